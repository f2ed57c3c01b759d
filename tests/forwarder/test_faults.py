"""Delivery under faults, with real processes: the real hook records into the real spool,
the real forwarder (``hookshim forward``) ships to the real app under uvicorn. Each test ends
by checking that every event the host recorded is stored on the server exactly once, with a
gapless seq (``assert_delivered_exactly_once``)."""
import json
import signal
import sqlite3
import threading

import pytest

from tests.forwarder.faultproxy import BLACKHOLE, ERROR_500, HOLD, RELAY, FaultProxy
from tests.forwarder.stack import AppServer, Host, ServerDb, assert_delivered_exactly_once, wait_for

pytestmark = pytest.mark.slow


class Stack:
    def __init__(self, tmp_path, db_url, via_proxy=False, app_env=None, **host_settings):
        self.db = ServerDb(db_url)
        self.db.create_schema()
        self.token = self.db.add_host("dom0-a")
        self.app = AppServer(db_url, tmp_path, env=app_env).start()
        self.proxy = FaultProxy(self.app.port) if via_proxy else None
        url = self.proxy.url if via_proxy else self.app.url
        self.host = Host(tmp_path / "host", "dom0-a", url, self.token, **host_settings)

    def close(self):
        self.host.stop_forwarders()
        if self.proxy:
            self.proxy.close()
        self.app.stop()
        self.db.dispose()

    def wait_drained(self, timeout=60):
        wait_for(self.host.drained, timeout, "the spool to drain:\n" + self.host.forwarder_log())


@pytest.fixture
def stack(tmp_path):
    made = []

    def make(db_url=None, **kw):
        s = Stack(tmp_path, db_url or "sqlite:///%s" % (tmp_path / "server.db"), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_events_from_the_real_hook_are_ingested_by_the_real_app(stack, db_url):
    s = stack(db_url)
    assert s.host.fire(3, op="prepare") + s.host.fire(2, op="release", subop="end") == [0] * 5
    done = s.host.forward_once()
    assert done.returncode == 0, done.stderr
    assert_delivered_exactly_once(s.host, s.db)
    row = s.db.host_row("dom0-a")
    assert row["chain_head_seq"] == 5 and row["chain_problems"] == 0
    assert row["hb_spool_depth"] == 0 and row["hb_parked"] == 0


def test_server_sigkilled_mid_batch_then_restarted(stack):
    s = stack(batch_size=5)
    s.host.fire(20)
    s.host.start_forwarder(timeout=10.0)
    wait_for(lambda: s.db.stored("dom0-a"), 30, "a first batch to be stored")
    # Freeze the server, give the forwarder more to send: its next batch is then certainly
    # in flight (claimed, posted, unanswered) when the server dies.
    s.app.proc.send_signal(signal.SIGSTOP)
    s.host.fire(10)
    wait_for(lambda: any(st == "locked" for _, _, st in s.host.spooled()), 30, "a batch in flight",
             interval=0.005)
    s.app.kill()
    assert not s.host.drained()
    s.app.start()
    s.wait_drained()
    assert_delivered_exactly_once(s.host, s.db)


def test_server_down_for_a_while(stack):
    s = stack()
    s.app.stop()
    s.host.fire(10)
    s.host.start_forwarder()
    wait_for(lambda: s.host.stats()["last_error"], 30, "the outage to be recorded")
    assert s.host.stats()["depth"] == 10
    s.host.fire(5)
    s.app.start()
    s.wait_drained()
    assert_delivered_exactly_once(s.host, s.db)
    wait_for(lambda: s.host.stats()["last_error"] is None, 10, "last_error to clear")


def test_listener_that_accepts_and_never_answers(stack):
    s = stack(via_proxy=True)
    s.proxy.mode = BLACKHOLE
    s.host.fire(8)
    s.host.start_forwarder(timeout=1.0)
    wait_for(lambda: "no answer" in (s.host.stats()["last_error"] or ""), 30, "a timeout")
    assert s.db.stored("dom0-a") == []
    s.proxy.mode = RELAY
    s.wait_drained()
    assert_delivered_exactly_once(s.host, s.db)


def test_server_answering_500_then_recovering(stack):
    s = stack(via_proxy=True)
    s.proxy.mode = ERROR_500
    s.host.fire(8)
    s.host.start_forwarder()
    wait_for(lambda: sum(1 for m, *_ in s.proxy.seen if m == ERROR_500) >= 3, 30, "three 500s")
    assert s.host.stats()["depth"] == 8 and s.db.stored("dom0-a") == []
    s.proxy.mode = RELAY
    s.wait_drained()
    assert_delivered_exactly_once(s.host, s.db)


def test_revoked_token_then_a_new_one(stack):
    s = stack()
    s.host.fire(4)
    s.host.start_forwarder()
    s.wait_drained()
    s.db.revoke_host("dom0-a")
    s.host.fire(4)
    wait_for(lambda: "HTTP 401" in (s.host.stats()["last_error"] or ""), 30, "the 401")
    assert s.host.stats()["depth"] == 4
    s.host.set_token(s.db.add_host("dom0-a", rotate=True))
    s.wait_drained(timeout=20)  # the refused backoff is 30 s: the new token file ends it
    assert_delivered_exactly_once(s.host, s.db)


def corrupt(host, seq, **fields):
    """Damage one spooled event the way a bug or a bad disk would (the server must refuse it)."""
    db = sqlite3.connect(str(host.state_dir / "spool.db"))
    body = json.loads(db.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0])
    body.update(fields)
    with db:
        db.execute("UPDATE events SET body = ? WHERE seq = ?", (json.dumps(body), seq))
    db.close()
    return body["event_id"]


def test_one_invalid_event_in_a_batch_is_parked_and_the_rest_delivered(stack):
    s = stack()
    s.host.fire(5)
    bad = corrupt(s.host, 3, outcome="exploded")
    done = s.host.forward_once()
    assert done.returncode == 0, done.stderr
    assert_delivered_exactly_once(s.host, s.db, parked={bad})
    sp = s.host.spool()
    (row, ev), = sp.rows(state="parked")
    sp.close()
    assert ev["event_id"] == bad and "outcome" in row["error"]
    assert s.db.host_row("dom0-a")["hb_parked"] == 1
    assert s.host.stats()["last_error"].startswith("parked %s" % bad)


def test_forwarder_sigkilled_mid_batch_resends_and_the_server_dedupes(stack):
    s = stack(via_proxy=True)
    s.host.fire(6)
    s.proxy.mode = HOLD
    fwd = s.host.start_forwarder(lease=2.0, timeout=30.0)
    assert s.proxy.in_flight.wait(30), s.host.forwarder_log()
    wait_for(lambda: len(s.db.stored("dom0-a")) == 6, 30, "the batch to reach the server")
    fwd.send_signal(signal.SIGKILL)
    fwd.wait(10)
    assert {st for _, _, st in s.host.spooled()} == {"locked"}  # acknowledgement never came
    s.proxy.release()
    s.host.start_forwarder(lease=2.0)  # takes the orphaned batch over and resends it
    s.wait_drained()
    assert_delivered_exactly_once(s.host, s.db)
    acks = [json.loads(b) for p, b in s.proxy.bodies if p.endswith("/ingest")]
    assert acks[-1]["duplicates"] == 6 and acks[-1]["stored"] == 0


def test_sigterm_finishes_the_batch_in_flight_and_exits_0(stack):
    s = stack(via_proxy=True)
    s.host.fire(6)
    s.proxy.mode = HOLD
    fwd = s.host.start_forwarder(timeout=30.0)
    assert s.proxy.in_flight.wait(30), s.host.forwarder_log()
    fwd.send_signal(signal.SIGTERM)
    threading.Timer(0.5, s.proxy.release).start()
    assert fwd.wait(30) == 0
    assert_delivered_exactly_once(s.host, s.db)


def fire_concurrently(host, threads, calls):
    """``threads`` threads each running the real hook ``calls`` times (guest g<thread>)."""
    running = [threading.Thread(target=host.fire, args=(calls,), kwargs={"guest": "g%d" % i})
               for i in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()


def test_hooks_fire_concurrently_while_the_forwarder_drains(stack):
    s = stack(batch_size=7)
    s.host.start_forwarder()
    fire_concurrently(s.host, 4, 15)
    s.wait_drained()
    recorded = assert_delivered_exactly_once(s.host, s.db)
    assert len(recorded) == 60


def test_batches_too_large_for_the_server_are_split_and_a_huge_event_parked(stack):
    s = stack(batch_size=10, app_env={"HOOKAUDIT_INGEST_MAX_EVENTS": "3",
                                      "HOOKAUDIT_INGEST_MAX_BYTES": "6000"})
    s.host.fire(4)
    s.host.fire(1, guest="huge", xml="<domain><name>huge</name><description>%s</description>"
                                     "</domain>" % ("x" * 8000))
    s.host.fire(3)
    done = s.host.forward_once()
    assert done.returncode == 0, done.stderr
    huge = [eid for seq, eid, _ in s.host.spooled() if seq == 5]
    assert_delivered_exactly_once(s.host, s.db, parked=set(huge))
    sp = s.host.spool()
    (row, _), = sp.rows(state="parked")
    sp.close()
    assert "too large" in row["error"]


def test_hook_calls_hand_their_events_to_the_running_forwarder(stack, db_url):
    """With `hookshim forward` running, calls hand their events over its socket
    (hookshim/handoff.py): none writes the spool itself (the direct write's queue directory
    is never made), all are delivered once; after SIGTERM the socket is gone and calls
    write directly again."""
    from hookshim import handoff, spool_group

    s = stack(db_url)
    fwd = s.host.start_forwarder()
    sock = s.host.state_dir / handoff.SOCKET
    wait_for(sock.exists, 30, "the forwarder to listen:\n" + s.host.forwarder_log())
    fire_concurrently(s.host, 4, 6)
    assert not (s.host.state_dir / spool_group.QUEUE).exists()
    s.wait_drained()
    assert len(assert_delivered_exactly_once(s.host, s.db)) == 24
    fwd.send_signal(signal.SIGTERM)
    assert fwd.wait(30) == 0
    assert not sock.exists()
    assert s.host.fire(2) == [0, 0]
    assert (s.host.state_dir / spool_group.QUEUE).exists()   # written directly
    assert s.host.forward_once().returncode == 0
    assert len(assert_delivered_exactly_once(s.host, s.db)) == 26

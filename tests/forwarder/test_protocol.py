"""The forwarder's delivery protocol against a scripted server and a real spool:
what each server answer does to the events (sent, released, parked) and to last_error."""
import pytest

from hookshim.config import build
from hookshim.forward import Forwarder
from hookshim.spool import Spool
from tests.forwarder.scripted import ScriptedServer, ack_all, error, reply
from tests.hookshim.helpers import hook_event


def make_config(tmp_path, url, **values):
    token = tmp_path / "token"
    if not token.exists():
        token.write_text("tok-1\n")
    base = {"host": "h1", "state_dir": str(tmp_path / "state"), "server_url": url,
            "token_file": str(token), "interval": 0.05}
    base.update(values)
    return build(base)


def spool_with(config, n):
    import os

    os.makedirs(config.state_dir, exist_ok=True)
    sp = Spool(os.path.join(config.state_dir, "spool.db"))
    stored = [sp.append(hook_event()) for _ in range(n)]
    sp.close()
    return stored


def forwarder(tmp_path, server, n=0, **values):
    config = make_config(tmp_path, server.url, **values)
    events = spool_with(config, n)
    fwd = Forwarder(config, timeout=5, max_backoff=0.1).open()
    return fwd, events


def states(fwd):
    return {ev["event_id"]: row["state"] for row, ev in fwd.spool.rows(limit=10**6)}


def test_acknowledged_batch_is_marked_sent(tmp_path):
    with ScriptedServer() as server:
        fwd, events = forwarder(tmp_path, server, 3)
        assert fwd.step().kind == "ok"
        assert set(states(fwd).values()) == {"sent"}
        sent = server.posts()[0]
        assert [e["seq"] for e in sent.json()["events"]] == [1, 2, 3]
        assert sent.headers["Authorization"] == "Bearer tok-1"


def test_events_missing_from_results_are_released_not_sent(tmp_path):
    def half(req):
        events = req.json()["events"]
        return reply(200, {"results": [{"event_id": events[0]["event_id"], "status": "stored"}]})

    with ScriptedServer(half) as server:
        fwd, events = forwarder(tmp_path, server, 2)
        assert fwd.step().kind == "transient"
        assert states(fwd) == {events[0]["event_id"]: "sent", events[1]["event_id"]: "ready"}


def test_200_without_results_marks_nothing_sent(tmp_path):
    with ScriptedServer(lambda req: (200, {"Content-Type": "text/html"}, b"<html>proxy</html>")) \
            as server:
        fwd, _ = forwarder(tmp_path, server, 2)
        assert fwd.step().kind == "transient"
        assert set(states(fwd).values()) == {"ready"}


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
def test_transient_status_releases_batch_and_records_last_error(tmp_path, status):
    with ScriptedServer(lambda req: error(status, "boom", "try later")) as server:
        fwd, _ = forwarder(tmp_path, server, 2)
        attempt = fwd.step()
        assert attempt.kind == "transient"
        assert set(states(fwd).values()) == {"ready"}
        assert fwd.spool.get_meta("last_error") == "HTTP %d boom: try later" % status


def test_retry_after_sets_the_wait(tmp_path):
    with ScriptedServer(lambda req: error(429, "slow_down", "busy", headers={"Retry-After": "7"})) \
            as server:
        fwd, _ = forwarder(tmp_path, server, 1)
        assert fwd.step().wait == 7.0


def test_last_error_is_cleared_after_a_success(tmp_path):
    answers = [error(503, "down", "maintenance")]
    with ScriptedServer(lambda req: answers.pop() if answers else ack_all(req)) as server:
        fwd, _ = forwarder(tmp_path, server, 1)
        fwd.step()
        assert fwd.spool.get_meta("last_error")
        assert fwd.step().kind == "ok"
        assert fwd.spool.get_meta("last_error") is None


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refusal_keeps_every_event_and_records_last_error(tmp_path, status):
    with ScriptedServer(lambda req: error(status, "unauthorized", "token revoked")) as server:
        fwd, _ = forwarder(tmp_path, server, 3)
        assert fwd.step().kind == "refused"
        assert set(states(fwd).values()) == {"ready"}
        assert fwd.spool.stats()["last_error"] == "HTTP %d unauthorized: token revoked" % status


def test_token_file_is_reread_for_every_request(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 1)
        fwd.step()
        (tmp_path / "token").write_text("tok-2\n")
        fwd.spool.append(hook_event())
        fwd.step()
        assert [r.headers["Authorization"] for r in server.posts()] == \
            ["Bearer tok-1", "Bearer tok-2"]


def test_missing_token_file_is_a_refusal_that_sends_nothing(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 1)
        (tmp_path / "token").unlink()
        attempt = fwd.step()
        assert attempt.kind == "refused" and "token_file" in attempt.error
        assert server.requests == [] and set(states(fwd).values()) == {"ready"}


def test_413_splits_the_batch_and_parks_an_event_that_never_fits(tmp_path):
    def small_only(req):
        events = req.json()["events"]
        if len(events) > 2 or any(len(e["xml"]) > 1000 for e in events):
            return error(413, "batch_too_large", "too large")
        return ack_all(req)

    with ScriptedServer(small_only) as server:
        fwd, events = forwarder(tmp_path, server, 0)
        for i in range(5):
            fwd.spool.append(hook_event(xml="<domain>%s</domain>" % ("x" * 5000 if i == 3 else "")))
        assert fwd.step().kind == "ok"
        got = states(fwd)
        parked = [row for row, ev in fwd.spool.rows(state="parked")]
        assert sorted(got.values()) == ["parked", "sent", "sent", "sent", "sent"]
        assert "too large" in parked[0]["error"]


def test_422_parks_exactly_the_named_events_and_resends_the_rest(tmp_path):
    def reject_seq_2(req):
        events = req.json()["events"]
        bad = [{"index": i, "event_id": e["event_id"], "field": "outcome", "message": "bad"}
               for i, e in enumerate(events) if e["seq"] == 2]
        return error(422, "invalid_event", "invalid", bad) if bad else ack_all(req)

    with ScriptedServer(reject_seq_2) as server:
        fwd, events = forwarder(tmp_path, server, 4)
        assert fwd.step().kind == "ok"
        got = states(fwd)
        assert got.pop(events[1]["event_id"]) == "parked"
        assert set(got.values()) == {"sent"}
        assert [e["seq"] for e in server.posts()[-1].json()["events"]] == [1, 3, 4]
        row, _ = fwd.spool.rows(state="parked")[0]
        assert row["error"] == "server rejected: outcome: bad"
        assert fwd.spool.stats()["parked"] == 1


def test_422_without_usable_details_isolates_the_bad_event_by_halving(tmp_path):
    def reject_seq_3(req):
        events = req.json()["events"]
        return error(422, "invalid", "nope") if any(e["seq"] == 3 for e in events) else ack_all(req)

    with ScriptedServer(reject_seq_3) as server:
        fwd, events = forwarder(tmp_path, server, 5)
        assert fwd.step().kind == "ok"
        got = states(fwd)
        assert got.pop(events[2]["event_id"]) == "parked"
        assert set(got.values()) == {"sent"}


def test_batch_max_bytes_bounds_the_request_body(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 0, batch_max_bytes=4000)
        for _ in range(6):
            fwd.spool.append(hook_event(xml="<domain>%s</domain>" % ("y" * 900)))
        while fwd.step().kind == "ok":
            pass
        sizes = [len(r.json()["events"]) for r in server.posts()]
        assert all(len(r.body) <= 4000 for r in server.posts())
        assert sum(sizes) == 6 and 1 < max(sizes) < 6
        assert set(states(fwd).values()) == {"sent"}


def test_heartbeat_reports_spool_health(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 2)
        fwd.heartbeat()
        beat = server.posts("/api/v1/heartbeat")[0].json()
        assert beat["host"] == "h1" and beat["spool_depth"] == 2 and beat["parked"] == 0
        assert beat["last_seq"] == 2 and beat["oldest_unsent_age_s"] >= 0
        assert set(beat) == {"host", "shim_version", "spool_depth", "oldest_unsent_age_s",
                             "parked", "last_seq", "last_error", "chain_head", "bundle_signer",
                             "bundle_refused", "bundle_serial", "bundle_warning",
                             "libvirt_version", "libvirt_daemon"}


def test_heartbeat_names_the_libvirt_the_shim_was_installed_for(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, libvirt_version="10.0.0", libvirt_daemon="split")
        fwd.heartbeat()
        beat = server.posts("/api/v1/heartbeat")[0].json()
        assert (beat["libvirt_version"], beat["libvirt_daemon"]) == ("10.0.0", "split")


def test_prune_deletes_only_sent_events(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 3, sent_retention=0, sent_max_rows=0)
        fwd.step()
        for _ in range(2):
            fwd.spool.append(hook_event())
        fwd.prune()
        assert sorted(states(fwd).values()) == ["ready", "ready"]


def test_once_drains_the_spool_and_exits_0(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 7, batch_size=3)
        assert fwd.run(once=True) == 0
        assert [len(r.json()["events"]) for r in server.posts()] == [3, 3, 1]


def pipelined(fwd):
    """As in the daemon: the periodic jobs just ran, so batches flow back to back."""
    fwd.housekeeping(force=True)
    return fwd


def test_back_to_back_batches_go_out_in_seq_order(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 7, batch_size=3)
        assert pipelined(fwd).step().kind == "ok"
        assert [[e["seq"] for e in r.json()["events"]] for r in server.posts()] == \
            [[1, 2, 3], [4, 5, 6], [7]]
        assert set(states(fwd).values()) == {"sent"}


def test_a_failure_mid_pipeline_releases_the_batch_claimed_ahead(tmp_path):
    posts = []

    def second_fails(req):
        if req.path == "/api/v1/ingest":
            posts.append(req)
            if len(posts) == 2:
                return error(503, "down", "x")
        return ack_all(req)

    with ScriptedServer(second_fails) as server:
        fwd, events = forwarder(tmp_path, server, 9, batch_size=3)
        assert pipelined(fwd).step().kind == "transient"
        got = [states(fwd)[e["event_id"]] for e in events]
        assert got == ["sent"] * 3 + ["ready"] * 6
        assert len(server.posts()) == 2


def test_a_new_forwarder_takes_over_batches_left_locked(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 3)
        fwd.spool.claim(limit=2, lease_s=3600)  # a forwarder that died mid-batch
        fwd.close()
        again = Forwarder(fwd.config, timeout=5).open()
        assert sorted(states(again).values()) == ["ready"] * 3
        assert pipelined(again).step().kind == "ok"
        assert [e["seq"] for e in server.posts()[0].json()["events"]] == [1, 2, 3]


def test_once_also_heartbeats_and_pulls_the_bundle(tmp_path):
    with ScriptedServer() as server:
        fwd, _ = forwarder(tmp_path, server, 1)
        fwd.run(once=True)
        paths = {(r.method, r.path) for r in server.requests}
        assert {("POST", "/api/v1/heartbeat"), ("GET", "/api/v1/policy-bundle")} <= paths


def test_once_exits_1_when_events_are_left(tmp_path):
    with ScriptedServer(lambda req: error(503, "down", "x")) as server:
        fwd, _ = forwarder(tmp_path, server, 2)
        assert fwd.run(once=True) == 1

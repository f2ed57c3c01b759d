"""`hookaudit facts worker` (HOOKAUDIT_FACTS_PASS=worker): the pass in its own process.
A real worker process catches up what the server's ingest queued, with the same tables as
an in-process pass from scratch, and exits 0 on SIGTERM; a conflict two workers find is
delivered to the webhook once, before the worker exits on SIGTERM; a server in worker mode
does not run the pass."""
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select

from app.cli.facts import setter
from app.models import DefinitionChange, FactConflict, FactsCursor, FactsPending, HeldFact
from app.services.facts_pass import catch_up, has_pending, queue_guests
from app.timeutil import utcnow
from tests.facts.store import GUESTS, Fleet, guest_xml
from tests.facts.test_incremental import snapshot
from tests.ops.receiver import Receiver

REPO = Path(__file__).resolve().parents[2]
MAC = "52:54:00:ab:cd:ef"
WAIT_S = 120        # a generous bound for a loaded machine; not a timing assertion


class Worker:
    """One `hookaudit facts worker` process on ``db_url``, with ``env`` (HOOKAUDIT_*)."""

    def __init__(self, db_url: str, **env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HOOKAUDIT_")}
        clean.update({f"HOOKAUDIT_{k.upper()}": str(v) for k, v in env.items()})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "--database-url", db_url, "facts", "worker",
             "--interval", "0.1"], cwd=REPO, env=clean, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        assert line.strip() == "facts worker: running", (line, self.proc.stderr.read())

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=WAIT_S)
        return self.proc.returncode, out, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def wait_until_empty(db) -> None:
    deadline = time.monotonic() + WAIT_S
    while has_pending(db):
        assert time.monotonic() < deadline, "the worker did not empty the queue"
        time.sleep(0.1)


def from_scratch(db) -> dict:
    with db.session(write=True) as s:
        for model in (HeldFact, FactConflict, DefinitionChange, FactsCursor, FactsPending):
            s.execute(delete(model))
        queue_guests(s, GUESTS.values(), utcnow())
    catch_up(db)
    return snapshot(db)


def recent_minute() -> float:
    """Minutes from the fleet's base time to half an hour ago: older conflicts (a backfill)
    are recorded but not alerted."""
    return (datetime.now(UTC) - timedelta(minutes=30) - datetime(2026, 11, 25, 12, tzinfo=UTC)
            ).total_seconds() / 60


def test_a_server_in_worker_mode_does_not_run_the_pass(make_app, make_host):
    app = make_app(facts_pass="worker", facts_pass_interval_s=0.05)
    assert not hasattr(app.state, "facts_runner")
    with TestClient(app) as client:
        fleet = Fleet(client, {"host-a": make_host("host-a")})
        fleet.boot("host-a", "web1", 0, guest_xml("web1"))
        time.sleep(0.3)     # six of the thread's intervals: a thread would have run
    with app.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(FactsPending)) > 0
        assert s.scalar(select(func.count()).select_from(HeldFact)) == 0


def test_the_worker_catches_up_what_ingest_queued_and_exits_0_on_sigterm(
        make_app, make_host, db_url):
    app = make_app(facts_pass="worker")
    db = app.state.db
    with TestClient(app) as client:
        fleet = Fleet(client, {"host-a": make_host("host-a"), "host-b": make_host("host-b")})
        fleet.boot("host-a", "web1", 0, guest_xml("web1", mac=MAC))
        fleet.boot("host-b", "web2", 1, guest_xml("web2", mac=MAC, memory_mib=512))
        assert has_pending(db)
        worker = Worker(db_url)
        try:
            wait_until_empty(db)
            # batches ingested while it runs are caught up too
            fleet.shutdown("host-b", "web2", 5, guest_xml("web2", mac=MAC, memory_mib=512))
            fleet.boot("host-b", "web2", 6, guest_xml("web2", mac=MAC, memory_mib=2048))
            fleet.boot("host-a", "db1", 7, guest_xml("db1", mac="52:54:00:00:00:09"))
            wait_until_empty(db)
            rc, out, err = worker.stop()
        finally:
            worker.kill()
    assert rc == 0, err
    assert out.splitlines()[-1] == "facts worker: stopped"
    by_worker = snapshot(db)
    assert {h[0] for h in by_worker["held"]} == set(GUESTS.values())
    assert len(by_worker["conflicts"]) == 2 and by_worker["changes"]
    assert by_worker == from_scratch(db)


def test_a_conflict_two_workers_find_reaches_the_webhook_once(make_app, make_host, db_url):
    minute0 = recent_minute()
    with Receiver() as receiver:
        app = make_app(facts_pass="worker", webhook_urls=receiver.url,
                       alert_group_wait_s=0.2, alert_silent_after_s=0)
        # SIGTERM comes before the group wait is over: a worker delivers what it found first
        env = {"webhook_urls": receiver.url, "alert_group_wait_s": 1.5,
               "alert_window_s": 1}
        workers = [Worker(db_url, **env), Worker(db_url, **env)]
        try:
            with TestClient(app) as client:
                fleet = Fleet(client, {"host-a": make_host("host-a"),
                                       "host-b": make_host("host-b")})
                fleet.boot("host-a", "web1", minute0, guest_xml("web1", mac=MAC))
                fleet.boot("host-b", "web2", minute0 + 5, guest_xml("web2", mac=MAC))
                wait_until_empty(app.state.db)
            for w in workers:
                w.proc.send_signal(signal.SIGTERM)
            results = [w.stop() for w in workers]
        finally:
            for w in workers:
                w.kill()
        delivered = list(receiver.delivered)
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert delivered, "the worker exited without delivering the conflict it found"
    started = delivered[0]
    assert (started["kind"], started["guest"]) == ("conflict", f"mac {MAC}")
    assert [s["state"] for s in started["samples"]] == ["started"]
    assert delivered == [started], "the conflict was sent more than once"


def test_the_signal_handler_cannot_deadlock_on_the_stop_event():
    """SIGTERM may arrive while the main thread holds the stop event's lock (inside
    stop.wait()); the handler runs in that thread, so it must not wait for the lock."""
    stop = threading.Event()
    handler = setter(stop)

    def main_thread_in_wait():
        with stop._cond:        # as Event.wait holds it around its check
            handler(signal.SIGTERM, None)
    t = threading.Thread(target=main_thread_in_wait, daemon=True)
    t.start()
    t.join(WAIT_S)
    assert not t.is_alive(), "the handler waited for the lock its own thread holds"
    assert stop.wait(WAIT_S)

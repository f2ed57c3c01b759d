"""Retention on a seeded store: prune old events, keep aborts longer, collect unreferenced XML,
and keep every chain verifiable from the checkpoint at the cut."""

import io
import os
from datetime import timedelta

from sqlalchemy import func, select, update

from app.models import ChainCheckpoint, Event, Host, RetentionRun, XmlBlob
from app.services import audit_export, retention, retention_runs
from tests.factories import post_events
from tests.ops.seed import NOW, chain, seed_host


def plan(settings, days=30, abort_days=90, **kw):
    return retention.plan_from_settings(settings, days=days, abort_days=abort_days, **kw)


def count(db, model=Event, *where):
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def export_report(app, secret):
    buf = io.BytesIO()
    audit_export.export(
        app.state.db, buf, NOW - timedelta(days=400), NOW + timedelta(days=1), secret=secret
    )
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"export-{id(buf)}.ndjson")
    with open(path, "wb") as f:
        f.write(buf.getvalue())
    try:
        return audit_export.verify_export(path, secret)
    finally:
        os.unlink(path)


def test_prune_keeps_recent_events_and_long_lived_aborts(app, client, host_a, settings):
    events = seed_host(client, host_a)
    run = retention.prune(app.state.db, plan(settings))
    db = app.state.db
    assert run["status"] == "done" and run["events_deleted"] == 28
    assert count(db) == 12  # 10 recent + aborts at seq 5 and 12
    with db.session() as s:
        cp = s.get(ChainCheckpoint, s.scalar(select(Host.id).where(Host.name == "host-a")))
        assert (cp.seq, cp.hash, cp.mac_kind) == (30, events[29]["hash"], "hmac-sha256")
        assert s.scalar(select(Host.events_count).where(Host.name == "host-a")) == 12
    assert run["hosts"]["host-a"]["kept_aborts"] == 2


def test_unreferenced_xml_is_collected_and_space_freed(app, client, host_a, settings, db_url):
    seed_host(client, host_a)
    db = app.state.db
    assert count(db, XmlBlob) == 8  # old0..old6 + fresh
    size_before = _db_bytes(db) if db.is_sqlite else None
    run = retention.prune(db, plan(settings))
    retention.reclaim_space(db)
    # old4 (seq 5) and old4 (seq 12: 11 % 7 = 4) are kept aborts -> their body stays
    assert count(db, XmlBlob) == 2 and run["xml_deleted"] == 6
    if db.is_sqlite:
        assert _db_bytes(db) < size_before - 6 * 8000


def _db_bytes(db) -> int:
    path = db.engine.url.database
    return os.path.getsize(path) + (
        os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    )


def test_chain_stays_verifiable_and_ingest_continues_after_prune(app, client, host_a, settings):
    events = seed_host(client, host_a)
    retention.prune(app.state.db, plan(settings))
    more = chain(host_a.name, [{"age_days": 0}], start_seq=41, prev_hash=events[-1]["hash"])
    body = post_events(client, host_a, more).json()
    assert body["stored"] == 1 and body["gaps"] == [] and body["chain_problems"] == []
    report = export_report(app, settings.secret_key)
    assert report["ok"], report["problems"]
    # the stored chain continues exactly at the checkpoint
    assert report["hosts"]["host-a"]["first_seq"] == 5  # the kept abort (an island)


def test_second_prune_sweeps_aborts_whose_own_retention_ended(app, client, host_a, settings):
    seed_host(client, host_a)
    retention.prune(app.state.db, plan(settings))
    run = retention.prune(app.state.db, plan(settings, abort_days=30))
    assert run["events_deleted"] == 2 and count(app.state.db) == 10


def test_prune_stops_before_a_tampered_event_and_records_it(app, client, host_a, settings):
    seed_host(client, host_a)
    db = app.state.db
    with db.session(write=True) as s:
        s.execute(update(Event).where(Event.seq == 10).values(prev_hash="e" * 64))
    run = retention.prune(db, plan(settings))
    assert run["chain_problems"] == 1 and "seq 10" in run["hosts"]["host-a"]["problems"][0]
    assert count(db, Event, Event.seq <= 9) == 1  # 1..9 pruned except the abort at seq 5
    assert count(db, Event, Event.seq == 10) == 1  # the evidence stays


def test_a_tampered_checkpoint_blocks_pruning(app, client, host_a, settings):
    seed_host(client, host_a)
    db = app.state.db
    retention.prune(db, plan(settings, days=70))  # nothing old enough: no checkpoint yet
    assert count(db, ChainCheckpoint) == 0
    retention.prune(db, plan(settings))
    with db.session(write=True) as s:
        s.execute(update(ChainCheckpoint).values(seq=29))
    run = retention.prune(db, plan(settings, days=1))
    assert run["events_deleted"] == 0 and "MAC" in run["hosts"]["host-a"]["problems"][0]


def test_dry_run_deletes_nothing_and_every_run_is_recorded(app, client, host_a, settings):
    seed_host(client, host_a)
    run = retention.prune(app.state.db, plan(settings, dry_run=True))
    assert run["dry_run"] and run["events_deleted"] == 28 and count(app.state.db) == 40
    retention.prune(app.state.db, plan(settings), actor="alice")
    runs = retention_runs.list_runs(app.state.db)
    assert [r["actor"] for r in runs] == ["alice", "cli"] and count(app.state.db, RetentionRun) == 2


def test_orphan_sweep_collects_bodies_no_event_references(app, client, host_a, settings):
    seed_host(client, host_a)
    db = app.state.db
    with db.session(write=True) as s:  # as if a prune was interrupted between its two steps
        s.execute(update(Event).where(Event.object == "old3").values(xml_blob=None))
    assert retention.collect_orphan_blobs(db, batch_size=1) == 1
    assert count(db, XmlBlob) == 7


def run_cli(db_url, *argv, secret="test-secret-key-not-for-production"):
    import os

    from app.cli import main

    old = os.environ.get("HOOKAUDIT_SECRET_KEY")
    os.environ["HOOKAUDIT_SECRET_KEY"] = secret
    try:
        return main(["--database-url", db_url, *argv])
    finally:
        os.environ.pop("HOOKAUDIT_SECRET_KEY") if old is None else os.environ.update(
            HOOKAUDIT_SECRET_KEY=old
        )


def test_hookaudit_verify_stays_green_after_prune_from_the_cli(
    app, client, host_a, host_b, db_url, capsys
):
    seed_host(client, host_a)
    seed_host(client, host_b, aborts=())
    assert run_cli(db_url, "prune", "--days", "30", "--abort-days", "90", "--vacuum") == 0
    assert "deleted 58 events" in capsys.readouterr().out
    assert run_cli(db_url, "verify") == 0
    out = capsys.readouterr().out
    assert "host-a: ok (12 events)" in out and "host-b: ok (10 events)" in out
    # verify notices a checkpoint that no longer matches its MAC
    assert run_cli(db_url, "verify", secret="another-key") == 2


def test_verify_names_a_tampered_event_after_prune(app, client, host_a, db_url, capsys):
    seed_host(client, host_a)
    run_cli(db_url, "prune", "--days", "30")
    with app.state.db.session(write=True) as s:
        s.execute(update(Event).where(Event.seq == 35).values(prev_hash="0" * 64))
    assert run_cli(db_url, "verify") == 2
    assert "first bad: seq 35" in capsys.readouterr().out


def test_prune_refuses_without_a_retention(app, db_url, capsys):
    assert run_cli(db_url, "prune") == 1


def test_prune_trims_the_alert_log_with_the_events(app, settings):
    from datetime import datetime

    from app.alerts.grouping import Alert
    from app.alerts.store import AlertStore
    from app.alerts.targets import parse_target
    from app.models import AlertDelivery

    store, target = AlertStore(app.state.db), parse_target("http://127.0.0.1:9/x")
    old_id = store.record_new(Alert("aborted", "h", "g", 1, 0, 0), target)
    store.record_new(Alert("aborted", "h", "g", 1, 0, 0), target)
    with app.state.db.session(write=True) as s:
        s.execute(
            update(AlertDelivery)
            .where(AlertDelivery.id == old_id)
            .values(created_at=datetime(2020, 1, 1))
        )
    retention.prune(app.state.db, plan(settings))
    assert count(app.state.db, AlertDelivery) == 1


def test_a_second_prune_refuses_while_one_runs(app, client, host_a, settings):
    import pytest

    seed_host(client, host_a)
    with app.state.db.session(write=True) as s:  # as if another prune were in progress
        s.add(
            RetentionRun(
                started_at=NOW.replace(tzinfo=None),
                actor="other",
                status="running",
                cutoff=NOW.replace(tzinfo=None),
                abort_cutoff=NOW.replace(tzinfo=None),
            )
        )
    with pytest.raises(retention_runs.PruneRunning):
        retention.prune(app.state.db, plan(settings))
    assert count(app.state.db) == 40

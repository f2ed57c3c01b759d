"""Retention: delete old events in bounded batches while keeping every host's chain verifiable.

Per host, only a *prefix* of the chain is pruned (seq 1..S, all older than the cutoff), and the
host's newest event is always kept so ingest can still link the next one. At the cut the last
pruned (seq, hash) is stored as a checkpoint, MAC'd with the server's secret key (plain sha256
when none is configured, which detects corruption but not forgery); ``verify`` starts each host's
chain from its checkpoint instead of the genesis hash. Aborted/killed/timed-out events may be
kept longer (``abort_days``): inside the pruned prefix they stay as verifiable islands (their own
hash still matches their canonical form) and are swept when their own retention ends.
Every run is recorded in ``retention_runs`` (retention_runs.py); the checkpoints and their
MAC are checkpoints.py. The run also downsamples and prunes the hosts' heartbeat history
(heartbeats.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.models import (
    ABORT_OUTCOMES,
    AlertDelivery,
    AlertThrottle,
    Event,
    Host,
    RetentionRun,
    XmlBlob,
)
from app.services import heartbeats, histogram_rollup, retention_runs
from app.services.checkpoints import chain_start, save_checkpoint
from app.services.facts_pass import queue_guests
from app.timeutil import to_naive_utc, utcnow
from hookshim.event import chain_hash

log = logging.getLogger("hookaudit.retention")
MAX_PROBLEMS = 50  # per host in a run record; the count is exact

@dataclass
class HostResult:
    from_seq: int = 0
    to_seq: int = 0
    deleted: int = 0
    kept_aborts: int = 0
    xml_deleted: int = 0
    problems: list = field(default_factory=list)  # the first MAX_PROBLEMS, as text
    problem_count: int = 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def _cut_seq(s, host_id: int, cutoff: datetime) -> int:
    """Last seq of the prunable prefix: before the first event at/after the cutoff, and never
    the host's newest event (ingest links the next event to it)."""
    newest = s.scalar(select(func.max(Event.seq)).where(Event.host_id == host_id)) or 0
    first_kept = s.scalar(
        select(func.min(Event.seq)).where(Event.host_id == host_id, Event.started_at >= cutoff)
    )
    cut = newest - 1 if first_kept is None else first_kept - 1
    return min(cut, newest - 1)


def _unreferenced(candidates=None):
    q = (
        select(XmlBlob.sha256)
        .where(~select(Event.id).where(Event.xml_blob == XmlBlob.sha256).exists())
        .where(~select(Event.id).where(Event.output_xml_blob == XmlBlob.sha256).exists())
    )
    return q if candidates is None else q.where(XmlBlob.sha256.in_(sorted(candidates)))


def _collect_blobs(s, digests: set) -> int:
    """Delete the XML bodies among ``digests`` that no event references any more.

    Rows are locked in sha256 order (as ingest writes them: no lock-order deadlock). If a
    concurrent ingest references one of them again, the foreign key refuses the delete; the
    savepoint keeps the pruned batch, and ``collect_orphan_blobs`` gets the rest later."""
    if not digests:
        return 0
    try:
        with s.begin_nested():
            gone = list(
                s.scalars(_unreferenced(digests).order_by(XmlBlob.sha256).with_for_update())
            )
            if gone:
                s.execute(delete(XmlBlob).where(XmlBlob.sha256.in_(gone)))
    except IntegrityError:
        log.info("an XML body was referenced again during pruning; left for the orphan sweep")
        return 0
    return len(gone)


def collect_orphan_blobs(db, batch_size: int = 1000) -> int:
    """Sweep every unreferenced XML body (after an interrupted prune); batched, short locks."""
    total = 0
    while True:
        with db.session(write=True) as s:
            found = set(s.scalars(_unreferenced().limit(batch_size)))
            deleted = _collect_blobs(s, found)
        total += deleted
        if len(found) < batch_size or not deleted:  # not deleted: referenced again, stop
            return total


_COLS = (
    Event.id,
    Event.seq,
    Event.prev_hash,
    Event.hash,
    Event.canonical,
    Event.outcome,
    Event.started_at,
    Event.xml_blob,
    Event.output_xml_blob,
    Event.domain_uuid,
    Event.driver,
    Event.op,
)


def _link_problem(row, cur_seq: int, cur_hash: str) -> str | None:
    if chain_hash(json.loads(row.canonical)) != row.hash:
        return f"seq {row.seq}: hash does not match the stored canonical form"
    if row.seq == cur_seq:
        return f"seq {row.seq}: sequence number used twice"
    if row.seq != cur_seq + 1:
        return f"seq {row.seq}: events {cur_seq + 1}..{row.seq - 1} are missing before it"
    if row.prev_hash != cur_hash:
        return f"seq {row.seq}: prev_hash does not link to seq {cur_seq}"
    return None


def _delete_events(s, host_id: int, rows) -> int:
    """Delete events (their policy decisions cascade) and the XML only they referenced."""
    if not rows:
        return 0
    s.execute(delete(Event).where(Event.id.in_([r.id for r in rows])))
    # Facts are pruned with their events: the facts pass recomputes these guests from what is
    # left (queued in this transaction, so an interrupted prune cannot forget them).
    queue_guests(s, {r.domain_uuid for r in rows if r.domain_uuid}, utcnow())
    s.execute(
        update(Host)
        .where(Host.id == host_id)
        .values(events_count=func.coalesce(Host.events_count, 0) - len(rows))
    )
    # after the host row (the lock order of ingest): the histograms stop counting them
    histogram_rollup.subtract(s, host_id, ((r.started_at, r.driver, r.op, r.outcome)
                                           for r in rows))
    return _collect_blobs(s, {d for r in rows for d in (r.xml_blob, r.output_xml_blob) if d})


@dataclass
class Plan:
    cutoff: datetime
    abort_cutoff: datetime
    batch_size: int = 2000
    dry_run: bool = False
    force: bool = False  # prune past chain problems too (they stay in the run record)
    secret: str | None = None


def _prune_batch(db, host: Host, pos: list, cut: int, plan: Plan, res: HostResult) -> bool:
    """One short transaction: up to batch_size events of the prefix. False when done/stopped."""
    with db.session(write=True) as s:
        rows = s.execute(
            select(*_COLS)
            .where(Event.host_id == host.id, Event.seq > pos[0], Event.seq <= cut)
            .order_by(Event.seq, Event.id)
            .limit(plan.batch_size)
        ).all()
        doomed, stop, consumed = [], False, 0
        for row in rows:
            problem = _link_problem(row, *pos)
            if problem:
                res.problem(problem)
                if not plan.force:
                    stop = True
                    break
            pos[:] = [row.seq, row.hash]
            consumed += 1
            if row.outcome in ABORT_OUTCOMES and row.started_at >= plan.abort_cutoff:
                res.kept_aborts += 1
            else:
                doomed.append(row)
        res.deleted += len(doomed)
        if not plan.dry_run and consumed:
            res.xml_deleted += _delete_events(s, host.id, doomed)
            save_checkpoint(s, host, pos[0], pos[1], len(doomed), plan.secret)
    res.to_seq = pos[0]
    return bool(rows) and not stop and len(rows) == plan.batch_size


def _sweep_islands(db, host: Host, upto_seq: int, plan: Plan, res: HostResult) -> None:
    """Events kept inside the pruned prefix (long-retention aborts) whose own time is up."""
    while not plan.dry_run:
        with db.session(write=True) as s:
            rows = s.execute(
                select(*_COLS)
                .where(
                    Event.host_id == host.id,
                    Event.seq <= upto_seq,
                    Event.started_at < plan.abort_cutoff,
                )
                .limit(plan.batch_size)
            ).all()
            res.deleted += len(rows)
            res.xml_deleted += _delete_events(s, host.id, rows)
        if len(rows) < plan.batch_size:
            return


def prune_host(db, host: Host, plan: Plan) -> HostResult:
    with db.session() as s:
        seq, hash_, problems = chain_start(s, host, plan.secret)
        cut = _cut_seq(s, host.id, plan.cutoff)
    res = HostResult(from_seq=seq + 1, to_seq=seq, problems=problems, problem_count=len(problems))
    if problems and not plan.force:
        return res  # a checkpoint that does not verify: touch nothing, report it
    pos = [seq, hash_]
    while cut > pos[0] and _prune_batch(db, host, pos, cut, plan, res):
        pass
    _sweep_islands(db, host, pos[0], plan, res)
    return res


def trim_alert_log(db, cutoff: datetime) -> None:
    """The alert delivery log follows the events' retention; expired throttle claims go too."""

    with db.session(write=True) as s:
        s.execute(delete(AlertDelivery).where(AlertDelivery.created_at < cutoff))
        s.execute(
            delete(AlertThrottle).where(AlertThrottle.until < datetime.now(UTC).timestamp() - 86400)
        )


def plan_from_settings(settings, now: datetime | None = None, **overrides) -> Plan:
    """Cutoffs from HOOKAUDIT_RETENTION_DAYS / HOOKAUDIT_RETENTION_ABORT_DAYS."""
    now = to_naive_utc(now) if now else utcnow()
    days = overrides.pop("days", None) or settings.retention_days
    abort_days = overrides.pop("abort_days", None) or settings.retention_abort_days or days
    return Plan(
        cutoff=now - timedelta(days=days),
        abort_cutoff=now - timedelta(days=max(days, abort_days)),
        secret=settings.secret_key,
        **overrides,
    )


def prune(db, plan: Plan, actor: str = "cli") -> dict:
    """Prune every host; returns (and records in retention_runs) what was done."""
    now = utcnow()
    with db.session(write=True) as s:
        retention_runs.refuse_concurrent_run(s, now)
        run = RetentionRun(
            started_at=now,
            actor=actor[:255],
            cutoff=plan.cutoff,
            abort_cutoff=plan.abort_cutoff,
            dry_run=plan.dry_run,
            status="running",
        )
        s.add(run)
        s.flush()
        run_id = run.id
        hosts = list(s.scalars(select(Host).order_by(Host.id)))
    results, error = {}, None
    try:
        for host in hosts:
            results[host.name] = prune_host(db, host, plan).__dict__
        if not plan.dry_run:
            trim_alert_log(db, plan.cutoff)
            heartbeats.downsample(db, now)
            heartbeats.prune(db, plan.cutoff)
    except Exception as exc:  # recorded, then re-raised: a failed prune must be visible
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        retention_runs.finish_run(db, run_id, results, error)
    return retention_runs.run_summary(db, run_id)


def reclaim_space(db) -> None:
    """Give freed pages back: VACUUM on SQLite (rewrites the file: run it off-peak), plain
    VACUUM ANALYZE on PostgreSQL (no exclusive lock; space is reused, the files rarely shrink)."""
    if db.is_sqlite:
        raw = db.engine.raw_connection()  # pysqlite in autocommit (isolation_level None)
        try:
            raw.driver_connection.execute("VACUUM")
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # shrink the WAL too
        finally:
            raw.close()
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("events", "xml_blobs", "policy_decisions"):
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")

"""The record of prune runs (``retention_runs``): one at a time, each with what it deleted
per host, listed by ``hookaudit prune --list``."""
from datetime import datetime, timedelta

from sqlalchemy import select, text

from app.db import is_postgresql
from app.models import RetentionRun
from app.timeutil import iso, utcnow


class PruneRunning(RuntimeError):
    """Another prune is running (two would race on the same checkpoints)."""


def refuse_concurrent_run(s, now: datetime) -> None:
    """One prune at a time. The check and the new run row are one transaction, serialized by
    SQLite's write lock or, on PostgreSQL, a transaction-scoped advisory lock. A run still
    'running' after 6 hours is taken as crashed and no longer blocks."""
    if is_postgresql(s.bind):
        s.execute(text("SELECT pg_advisory_xact_lock(hashtext('hookaudit-prune'))"))
    running = s.scalar(
        select(RetentionRun.id).where(
            RetentionRun.status == "running", RetentionRun.started_at > now - timedelta(hours=6)
        )
    )
    if running is not None:
        raise PruneRunning(f"prune run {running} is still running")


def finish_run(db, run_id: int, results: dict, error: str | None) -> None:
    touched = {
        h: r for h, r in results.items() if r["deleted"] or r["problems"] or r["kept_aborts"]
    }
    with db.session(write=True) as s:
        run = s.get(RetentionRun, run_id)
        run.finished_at = utcnow()
        run.status = "failed" if error else "done"
        run.error = error
        run.events_deleted = sum(r["deleted"] for r in results.values())
        run.xml_deleted = sum(r["xml_deleted"] for r in results.values())
        run.chain_problems = sum(r["problem_count"] for r in results.values())
        run.hosts = touched


def run_summary(db, run_id: int) -> dict:
    with db.session() as s:
        return _run_dict(s.get(RetentionRun, run_id))


def list_runs(db, limit: int = 50) -> list[dict]:
    with db.session() as s:
        q = select(RetentionRun).order_by(RetentionRun.id.desc()).limit(limit)
        return [_run_dict(r) for r in s.scalars(q)]


def _run_dict(run: RetentionRun) -> dict:
    return {
        "id": run.id,
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "actor": run.actor,
        "cutoff": iso(run.cutoff),
        "abort_cutoff": iso(run.abort_cutoff),
        "dry_run": run.dry_run,
        "status": run.status,
        "events_deleted": run.events_deleted,
        "xml_deleted": run.xml_deleted,
        "chain_problems": run.chain_problems,
        "hosts": run.hosts or {},
        "error": run.error,
    }

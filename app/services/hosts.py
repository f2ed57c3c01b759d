"""Hosts with their health: last seen, forwarder lag, sequence gaps, chain status."""
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import ChainProblem, Host, SeqGap
from app.services.shim_release import is_behind, server_version
from app.timeutil import iso, utcnow

GAPS_SHOWN = 20
# A spool reset lost events for good: the host says so for a week, then only in its JSON.
SPOOL_RESET_SHOWN_S = 7 * 24 * 3600


def health(host, open_gaps: list, now: datetime, settings: Settings) -> str:
    """One word for the hosts page, worst first."""
    if host.revoked_at is not None:
        return "revoked"
    if host.chain_problems:
        return "chain_broken"
    if host.last_seen_at is None:
        return "never_seen"
    if (now - host.last_seen_at).total_seconds() > settings.host_stale_after_s:
        return "stale"
    if open_gaps:
        return "gaps"
    reset = host.spool_reset_at
    if reset is not None and (now - reset).total_seconds() < SPOOL_RESET_SHOWN_S:
        return "spool_reset"
    if (host.hb_oldest_unsent_age_s or 0) > settings.host_lag_warn_s:
        return "lagging"
    return "ok"


def backlog(host, stale: bool) -> dict | None:
    """What the server knows of the host's unsent events, as of its last heartbeat: the spool
    depth it reported, less what has arrived since of the events it held then (its last seq
    then vs the last seq received). A stale host may have spooled more since, and its events
    cannot leave the spool without reaching us: the numbers are then lower bounds."""
    if host.hb_at is None:
        return None
    pending = host.hb_spool_depth
    if pending is not None and host.hb_last_seq is not None and host.last_seq is not None:
        pending = min(pending, max(0, host.hb_last_seq - host.last_seq))
    return {"pending": pending, "oldest_unsent_age_s": host.hb_oldest_unsent_age_s,
            "as_of": iso(host.hb_at), "at_least": stale}


def host_dict(host, gaps: list, now: datetime, settings: Settings) -> dict:
    spans = [(g.from_seq, g.to_seq) for g in gaps]
    seen = host.last_seen_at
    word = health(host, spans, now, settings)
    return {
        "name": host.name, "health": word,
        "stale_since": iso(seen) if word == "stale" else None,
        "backlog": backlog(host, word == "stale"),
        "revoked": host.revoked_at is not None, "created_at": iso(host.created_at),
        "shim_version": host.shim_version,
        # The same rule as shim_release.fleet_versions' "behind": a revoked host is out of it.
        "shim_behind": host.revoked_at is None and is_behind(host.shim_version, server_version()),
        "last_seen_at": iso(seen),
        "seen_ago_s": None if seen is None else round((now - seen).total_seconds(), 3),
        "last_seq": host.last_seq, "chain_head_seq": host.chain_head_seq,
        "events_count": host.events_count or 0, "open_gaps": spans[:GAPS_SHOWN],
        "missing_events": sum(hi - lo + 1 for lo, hi in spans),
        "chain_problems": host.chain_problems or 0,
        "chain_status": "broken" if host.chain_problems else "ok",
        "heartbeat_at": iso(host.hb_at), "spool_depth": host.hb_spool_depth,
        "oldest_unsent_age_s": host.hb_oldest_unsent_age_s, "parked": host.hb_parked,
        "last_error": host.hb_last_error, "spool_reset": spool_reset(host),
        "bundle": bundle_trust(host),
        "libvirt": {"version": host.hb_libvirt_version, "daemon": host.hb_libvirt_daemon},
    }


def bundle_trust(host) -> dict:
    """The last heartbeat's bundle report: ``refused`` is why the last bundle offered was not
    installed (the host keeps enforcing its last good one); None when none was refused."""
    return {"refused": host.hb_bundle_refused, "signer": host.hb_bundle_signer,
            "serial": host.hb_bundle_serial, "warning": host.hb_bundle_warning}


def spool_reset(host) -> dict | None:
    """The host's last spool reset: when it arrived, its event, the head it declared."""
    if host.spool_reset_at is None:
        return None
    return {"at": iso(host.spool_reset_at), "event_id": host.spool_reset_event_id,
            "head_seq": host.spool_reset_head_seq,
            "head_hash": host.spool_reset_head_hash or "unknown"}


# Core rows, not ORM objects: building 1,000 Host instances cost more than the queries.
HOST_COLUMNS = [c for c in Host.__table__.c if c.key != "token_hash"]
GAP_COLUMNS = (SeqGap.host_id, SeqGap.from_seq, SeqGap.to_seq)


def _open_gaps(session: Session, host_ids: list[int] | None) -> dict[int, list]:
    """Open gaps per host id, in seq order; ``None``: of every host (one query either way)."""
    stmt = select(*GAP_COLUMNS).where(SeqGap.closed_at.is_(None))
    if host_ids is not None:
        stmt = stmt.where(SeqGap.host_id.in_(host_ids))
    gaps: dict[int, list] = {}
    for gap in session.execute(stmt.order_by(SeqGap.host_id, SeqGap.from_seq)):
        gaps.setdefault(gap.host_id, []).append(gap)
    return gaps


def list_hosts(session: Session, settings: Settings, behind: bool = False) -> list[dict]:
    """Every host with its health (with ``behind``, only the hosts running an older shim
    than the server ships): two queries whatever the number of hosts."""
    hosts = session.execute(select(*HOST_COLUMNS).order_by(Host.name)).all()
    gaps, now = _open_gaps(session, None) if hosts else {}, utcnow()
    rows = [host_dict(h, gaps.get(h.id, []), now, settings) for h in hosts]
    return [r for r in rows if r["shim_behind"]] if behind else rows


def get_host(session: Session, settings: Settings, name: str, problems_limit: int = 100):
    host = session.scalar(select(Host).where(Host.name == name))
    if host is None:
        return None
    data = host_dict(host, _open_gaps(session, [host.id]).get(host.id, []), utcnow(), settings)
    rows = session.execute(select(ChainProblem).where(ChainProblem.host_id == host.id)
                           .order_by(ChainProblem.seq, ChainProblem.id).limit(problems_limit))
    data["problems"] = [{"event_id": p.event_id, "seq": p.seq, "problem": p.problem,
                         "detected_at": iso(p.detected_at)} for (p,) in rows]
    return data

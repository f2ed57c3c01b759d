"""The overview: what an operator must see first. One service, two renderings (page + JSON).

Three database round trips: (1) outcome counts and policy denials of the window in one
UNION ALL, (2) the latest aborts (served by the partial index ``ix_events_aborts``),
(3) every host with its open seq gaps (hosts are few; health is computed in Python).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from app.models import ABORT_OUTCOMES, Event, Host, PolicyDecision, SeqGap
from app.timeutil import utcnow
from hookshim.event import OUTCOMES

LATEST_ABORTS = 10
TOP_DENIALS = 10


def iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _counts_and_denials(db: Session, since: datetime) -> tuple[dict, list[dict]]:
    counts_q = (select(literal("outcome").label("kind"), Event.outcome.label("key"),
                       func.count().label("n"))
                .where(Event.started_at >= since).group_by(Event.outcome))
    denials_q = (select(literal("deny").label("kind"), PolicyDecision.rule_id.label("key"),
                        func.count().label("n"))
                 .where(PolicyDecision.at >= since, PolicyDecision.verdict == "deny")
                 .group_by(PolicyDecision.rule_id))
    counts = {o: 0 for o in OUTCOMES}
    denials = []
    for kind, key, n in db.execute(union_all(counts_q, denials_q)):
        if kind == "outcome":
            counts[key] = n
        else:
            denials.append({"rule_id": key, "denials": n})
    denials.sort(key=lambda d: (-d["denials"], d["rule_id"]))
    return counts, denials[:TOP_DENIALS]


def _latest_aborts(db: Session) -> list[dict]:
    rows = db.execute(
        select(Event.event_id, Host.name, Event.object, Event.domain_uuid, Event.driver,
               Event.op, Event.subop, Event.outcome, Event.reason, Event.started_at)
        .join(Host, Host.id == Event.host_id)
        .where(Event.outcome.in_(ABORT_OUTCOMES))
        .order_by(Event.started_at.desc(), Event.id.desc()).limit(LATEST_ABORTS))
    return [{"event_id": r[0], "host": r[1], "object": r[2], "domain_uuid": r[3],
             "driver": r[4], "op": r[5], "subop": r[6], "outcome": r[7], "reason": r[8],
             "started_at": iso(r[9])} for r in rows]


def host_health(host: Host, open_gaps: int, now: datetime, stale_after_s: int,
                lag_warn_s: int) -> tuple[str, list[str]]:
    """(status, problems) of one host: revoked | never_seen | silent | unhealthy | lagging | healthy."""
    if host.revoked_at is not None:
        return "revoked", []
    if host.last_seen_at is None and host.hb_at is None:
        return "never_seen", ["never reported: install the shim and start its forwarder"]
    problems = []
    seen = max(t for t in (host.last_seen_at, host.hb_at) if t is not None)
    silent_s = (now - seen).total_seconds()
    if silent_s > stale_after_s:
        problems.append(f"silent for {int(silent_s // 60)} min")
    if open_gaps:
        problems.append(f"{open_gaps} open seq gap(s)")
    if host.chain_problems:
        problems.append(f"{host.chain_problems} chain problem(s)")
    if host.hb_parked:
        problems.append(f"{host.hb_parked} parked event(s)")
    if host.hb_last_error:
        problems.append(f"forwarder error: {host.hb_last_error}")
    lag = host.hb_oldest_unsent_age_s or 0
    if lag > lag_warn_s:
        problems.append(f"spool backlog {int(lag)} s old")
    if silent_s > stale_after_s:
        return "silent", problems
    if open_gaps or host.chain_problems or host.hb_parked:
        return "unhealthy", problems
    return ("lagging" if problems else "healthy"), problems


def _hosts(db: Session, now: datetime, stale_after_s: int, lag_warn_s: int) -> list[dict]:
    gaps = (select(func.count()).where(SeqGap.host_id == Host.id, SeqGap.closed_at.is_(None))
            .correlate(Host).scalar_subquery())
    out = []
    for host, open_gaps in db.execute(select(Host, gaps).order_by(Host.name)):
        status, problems = host_health(host, open_gaps, now, stale_after_s, lag_warn_s)
        out.append({"host": host.name, "status": status, "problems": problems,
                    "last_seen_at": iso(host.last_seen_at), "open_gaps": open_gaps,
                    "chain_problems": host.chain_problems or 0})
    return out


def overview(db: Session, settings, now: datetime | None = None, hours: int = 24) -> dict:
    """Counts by outcome and top denials over ``hours``, latest aborts, hosts needing care."""
    now = now or utcnow()
    since = now - timedelta(hours=hours)
    counts, denials = _counts_and_denials(db, since)
    hosts = _hosts(db, now, settings.host_stale_after_s, settings.host_lag_warn_s)
    needing_care = [h for h in hosts if h["status"] not in ("healthy", "revoked")]
    return {
        "window": {"from": iso(since), "to": iso(now), "hours": hours},
        "counts": counts,
        "total": sum(counts.values()),
        "latest_aborts": _latest_aborts(db),
        "hosts_total": len(hosts),
        "hosts_needing_care": needing_care,
        "seq_gaps": sum(h["open_gaps"] for h in hosts),
        "chain_problems": sum(h["chain_problems"] for h in hosts),
        "top_denials": denials,
    }

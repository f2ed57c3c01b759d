"""The overview: what an operator must see first. One service, two renderings (page + JSON).

Small queries: (1) outcome counts of the window (app/services/histogram.py
``outcome_totals``: whole 3-hour and half-hour slots from the histogram rollup) and its
policy denials, (2) the latest aborts (served by the partial index ``ix_events_aborts``),
(3)+(4) hosts and their open seq gaps through ``app.services.hosts.list_hosts``, so the
overview and the hosts page use one definition of a host's health.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import ABORT_OUTCOMES, Event, Host, PolicyDecision
from app.services.attribution import ongoing_conflicts
from app.services.histogram import outcome_totals
from app.services.hosts import list_hosts
from app.timeutil import iso, utcnow

LATEST_ABORTS = 10
TOP_DENIALS = 10


def _counts_and_denials(session: Session, since: datetime, until: datetime,
                        counts: dict | None) -> tuple[dict, list[dict]]:
    # the counts as the histogram counts them: whole slots from its rollup, edges on rows
    if counts is None:
        counts = outcome_totals(session, since, until)
    denials_q = (select(PolicyDecision.rule_id, func.count())
                 # enforce only: a warn/dryrun "deny" refused nothing (the policies page
                 # shows those hits per mode)
                 .where(PolicyDecision.at >= since, PolicyDecision.at < until,
                        PolicyDecision.verdict == "deny",
                        PolicyDecision.mode == "enforce")
                 .group_by(PolicyDecision.rule_id))
    denials = [{"rule_id": key, "denials": n} for key, n in session.execute(denials_q)]
    denials.sort(key=lambda d: (-d["denials"], d["rule_id"]))
    return counts, denials[:TOP_DENIALS]


def _latest_aborts(session: Session) -> list[dict]:
    rows = session.execute(
        select(Event.event_id, Host.name, Event.object, Event.domain_uuid, Event.driver,
               Event.op, Event.subop, Event.outcome, Event.reason, Event.started_at)
        .join(Host, Host.id == Event.host_id)
        .where(Event.outcome.in_(ABORT_OUTCOMES))
        .order_by(Event.started_at.desc(), Event.id.desc()).limit(LATEST_ABORTS))
    return [{"event_id": r[0], "host": r[1], "object": r[2], "domain_uuid": r[3],
             "driver": r[4], "op": r[5], "subop": r[6], "outcome": r[7], "reason": r[8],
             "started_at": iso(r[9])} for r in rows]


def _when(value: str | None) -> str:
    """An ISO time as people read it in a sentence: to the second, UTC said."""
    return f"{value[:19].replace('T', ' ')} UTC" if value else "an unknown time"


def why(host: dict) -> list[str]:
    """What needs care on a host (the overview's "Why" column), from its health data."""
    out = []
    if host["health"] == "never_seen":
        out.append("never reported")
    elif host["health"] == "stale":
        out.append(f"stale since {_when(host['last_seen_at'])}")
    if host["missing_events"]:
        out.append(f"{host['missing_events']} missing event(s) in seq gaps")
    if host["chain_problems"]:
        out.append(f"{host['chain_problems']} chain problem(s)")
    if host["health"] == "lagging":
        out.append(f"oldest unsent event {host['oldest_unsent_age_s']:.0f} s old "
                   f"(as of {_when(host['heartbeat_at'])})")
    if host["spool_reset"]:
        out.append(f"spool reset at {_when(host['spool_reset']['at'])}")
    return out


def overview(session: Session, settings, now: datetime | None = None, hours: int = 24,
             since: datetime | None = None, counts: dict | None = None) -> dict:
    """Counts by outcome and top denials over ``since``..``now`` (default: the last
    ``hours``), latest aborts, hosts needing care. ``counts``: the calls per outcome of that
    range when the caller has them already (the page's histogram, ``totals_of``)."""
    now = now or utcnow()
    since = since or now - timedelta(hours=hours)
    hours = round((now - since).total_seconds() / 3600, 2)
    hours = int(hours) if hours.is_integer() else hours     # 24, not 24.0
    counts, denials = _counts_and_denials(session, since, now, counts)
    hosts = list_hosts(session, settings)
    needing_care = [h | {"why": why(h)} for h in hosts if h["health"] not in ("ok", "revoked")]
    return {
        "window": {"from": iso(since), "to": iso(now), "hours": hours},
        "counts": counts,
        "total": sum(counts.values()),
        "latest_aborts": _latest_aborts(session),
        "hosts_total": len(hosts),
        "hosts_needing_care": needing_care,
        "seq_gaps": sum(len(h["open_gaps"]) for h in hosts),
        "missing_events": sum(h["missing_events"] for h in hosts),
        "chain_problems": sum(h["chain_problems"] for h in hosts),
        "top_denials": denials,
        "conflicts": ongoing_conflicts(session),   # issue 17: duplicate MACs, shared disks
    }

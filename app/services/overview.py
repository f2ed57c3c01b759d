"""The overview: what an operator must see first. One service, two renderings (page + JSON).

Four small queries: (1) outcome counts and policy denials of the window in one UNION ALL,
(2) the latest aborts (served by the partial index ``ix_events_aborts``), (3)+(4) hosts and
their open seq gaps through ``app.services.hosts.list_hosts``, so the overview and the hosts
page use one definition of a host's health.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import Session

from app.models import ABORT_OUTCOMES, Event, Host, PolicyDecision
from app.services.errors import InvalidCursor
from app.services.hosts import list_hosts
from app.timeutil import iso, parse_iso, utcnow
from hookshim.event import OUTCOMES

LATEST_ABORTS = 10
TOP_DENIALS = 10


def _counts_and_denials(db: Session, since: datetime) -> tuple[dict, list[dict]]:
    counts_q = (select(literal("outcome").label("kind"), Event.outcome.label("key"),
                       func.count().label("n"))
                .where(Event.started_at >= since).group_by(Event.outcome))
    denials_q = (select(literal("deny").label("kind"), PolicyDecision.rule_id.label("key"),
                        func.count().label("n"))
                 # enforce only: a warn/dryrun "deny" refused nothing (the policies page
                 # shows those hits per mode)
                 .where(PolicyDecision.at >= since, PolicyDecision.verdict == "deny",
                        PolicyDecision.mode == "enforce")
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


def overview(db: Session, settings, now: datetime | None = None, hours: int = 24) -> dict:
    """Counts by outcome and top denials over ``hours``, latest aborts, hosts needing care."""
    now = now or utcnow()
    since = now - timedelta(hours=hours)
    counts, denials = _counts_and_denials(db, since)
    hosts = list_hosts(db, settings)
    needing_care = [h for h in hosts if h["health"] not in ("ok", "revoked")]
    return {
        "window": {"from": iso(since), "to": iso(now), "hours": hours},
        "counts": counts,
        "total": sum(counts.values()),
        "latest_aborts": _latest_aborts(db),
        "hosts_total": len(hosts),
        "hosts_needing_care": needing_care,
        "seq_gaps": sum(len(h["open_gaps"]) for h in hosts),
        "missing_events": sum(h["missing_events"] for h in hosts),
        "chain_problems": sum(h["chain_problems"] for h in hosts),
        "top_denials": denials,
    }


GROUPINGS = ("reason", "host", "rule", "guest")
GROUPS_SHOWN = 50


def abort_groups(db: Session, filters, by: str = "reason", default_days: int = 7) -> dict:
    """Aborted/killed/timed-out calls matching ``filters`` grouped by reason, host, rule or
    guest, biggest group first (one query over the ``ix_events_aborts`` partial index).
    Without ``since`` the groups cover the last ``default_days``: patterns are about now, and
    aggregating years of aborts on every page view would not stay fast."""
    from app.services.events import ABORTS_CLAUSE, base_query

    if filters.since is None:
        filters = filters.model_copy(update={"since": utcnow() - timedelta(days=default_days)})
    sub = base_query(db, filters).where(ABORTS_CLAUSE).subquery()
    if by == "rule":
        key = PolicyDecision.rule_id
        stmt = (select(key, func.count(), func.max(sub.c.started_at)).select_from(sub)
                .join(PolicyDecision, PolicyDecision.event_id == sub.c.id)
                .where(PolicyDecision.verdict == "deny"))
    else:
        key = {"reason": sub.c.reason, "host": sub.c.host, "guest": sub.c.object}[by]
        stmt = select(key, func.count(), func.max(sub.c.started_at))
    stmt = stmt.group_by(key).order_by(func.count().desc(), key).limit(GROUPS_SHOWN)
    groups = [{"key": k, "count": n, "latest_at": iso(latest)} for k, n, latest in db.execute(stmt)]
    return {"by": by, "since": iso(filters.since), "groups": groups}


def tail_cursor(event: dict | None) -> str | None:
    """The live-tail cursor of an event summary: "<started_at>|<event_id>"."""
    return f"{event['started_at']}|{event['event_id']}" if event else None


def rows_after(db: Session, filters, cursor: str, limit: int = 200) -> dict:
    """Live tail ("rows after X"): events matching ``filters`` strictly after ``cursor`` in
    (started_at, event_id) order, oldest first, and the cursor of the newest one returned.

    event_id breaks ties between calls at the same microsecond; with a guest or host filter
    the (…, started_at, id) indexes narrow the scan to the newest rows."""
    from sqlalchemy import tuple_

    from app.services.events import base_query, summary

    when, _, event_id = cursor.partition("|")
    try:
        key = (parse_iso(when), event_id)
    except ValueError:
        raise InvalidCursor("cursor is not one this page returned") from None
    stmt = base_query(db, filters).where(
        Event.started_at >= key[0], tuple_(Event.started_at, Event.event_id) > tuple_(*key))
    rows = db.execute(stmt.order_by(Event.started_at, Event.event_id).limit(limit)).all()
    items = [summary(r) for r in rows]
    return {"items": items, "cursor": tail_cursor(items[-1]) if items else cursor}

"""Aborts grouped: which reasons, hosts, causes ("what refused") or guests the refused calls
share (the aborts page's groups table and GET /api/v1/aborts/groups). The list itself is
``app.services.events.list_aborts``.

    what refused (by=rule)   the enforced rule(s) that denied the call (a warn or dryrun
                             verdict refused nothing), else the adopted script that failed
                             (its path, from the reason), else "internal" (the shim itself:
                             a guard rail, a timeout without a script, an error)
    reason                   the reason with what is particular to one guest (its name, a
                             UUID, a MAC, a duration) replaced, so one failing script is
                             one group, not one per guest
"""
import re
from datetime import timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.util import find_tables

from app.models import Event, Host, PolicyDecision
from app.services.events import ABORTS_CLAUSE, base_query
from app.timeutil import iso, utcnow

GROUPINGS = ("reason", "host", "rule", "guest")
GROUPS_SHOWN = 50
# Python groups at most this many distinct rows (reasons) or aborts (causes) of the window.
ROWS_READ = 20_000
POLICY_REFUSAL = "denied by hookaudit policy: "
SCRIPT_FAILED = re.compile(r"^hook script (.+?) failed: ")
_GUEST_PARTS = [
    (re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}\b"), "<mac>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?ms\b"), "<n> ms"),
]


def normalise_reason(reason: str | None, guest: str | None) -> str | None:
    """``reason`` without the parts particular to one guest (name, UUID, MAC, duration)."""
    if not reason:
        return reason
    if guest and len(guest) > 1:
        reason = reason.replace(guest, "<guest>")
    for pattern, placeholder in _GUEST_PARTS:
        reason = pattern.sub(placeholder, reason)
    return reason


def cause(reason: str | None, rules: list[str]) -> tuple[str, str]:
    """(kind, key) of what refused one call: ("rule", id), ("script", path), ("internal", "")."""
    if rules:
        return "rule", rules[0]
    found = SCRIPT_FAILED.match(reason or "")
    if found:
        return "script", found.group(1)
    return "internal", "internal"


def abort_groups(session: Session, filters, by: str = "reason", default_days: int = 7) -> dict:
    """Aborted/killed/timed-out calls matching ``filters`` grouped by reason, host, cause
    (``rule``) or guest, biggest group first. Without ``since`` the groups cover the last
    ``default_days``: patterns are about now, and aggregating years of aborts on every page
    view would not stay fast."""
    if filters.since is None:
        filters = filters.model_copy(update={"since": utcnow() - timedelta(days=default_days)})
    sub = _aborts(session, filters, by == "host")
    if by == "rule":
        groups = _by_cause(session, sub)
    elif by == "reason":
        groups = _by_reason(session, sub)
    else:
        key = sub.c.host if by == "host" else sub.c.object   # (no host column otherwise)
        stmt = (select(key, func.count(), func.max(sub.c.started_at)).group_by(key)
                .order_by(func.count().desc(), key).limit(GROUPS_SHOWN))
        groups = [{"key": k, "kind": by, "count": n, "latest_at": latest}
                  for k, n, latest in session.execute(stmt)]
    groups.sort(key=lambda g: (-g["count"], g["key"] or ""))
    shown = [g | {"latest_at": iso(g["latest_at"])} for g in groups[:GROUPS_SHOWN]]
    return {"by": by, "since": iso(filters.since), "groups": shown}


def _aborts(session: Session, filters, with_host: bool):
    """The aborts matching ``filters`` as a subquery: id, object, reason, started_at, and the
    host's name only ``with_host`` or when a filter needs the hosts table (the join costs a
    lookup per abort, ~10 % of grouping a month's aborts on PostgreSQL)."""
    listing = base_query(session, filters).where(ABORTS_CLAUSE)
    where = listing.whereclause
    if with_host or Host.__table__ in find_tables(where, check_columns=True):
        return listing.subquery()
    return (select(Event.id, Event.object, Event.reason, Event.started_at)
            .where(where).subquery())


def _merge(groups: dict, kind: str, key, n: int, latest) -> None:
    g = groups.setdefault((kind, key), {"key": key, "kind": kind, "count": 0, "latest_at": latest})
    g["count"] += n
    g["latest_at"] = max(g["latest_at"], latest)


def _by_reason(session: Session, sub) -> list[dict]:
    """Reasons with their guest's name already replaced, counted in the database (as
    normalise_reason replaces it: every occurrence, names of two characters or more), the
    UUID/MAC/duration parts replaced and merged here. Grouping by (reason, guest) instead
    sent one row per guest to Python: ~10,000 rows for 30 days of a 1M-event store."""
    reason = case((func.length(sub.c.object) > 1,
                   func.replace(sub.c.reason, sub.c.object, "<guest>")),
                  else_=sub.c.reason).label("reason")
    rows = session.execute(select(reason, func.count(), func.max(sub.c.started_at))
                           .group_by(reason).limit(ROWS_READ))
    groups: dict = {}
    for text, n, latest in rows:
        _merge(groups, "reason", normalise_reason(text, None), n, latest)
    return list(groups.values())


def _by_cause(session: Session, sub) -> list[dict]:
    """Each abort credited to the enforced rule(s) that refused it, else its failing script,
    else the shim itself. A rule's error refused the call only under failure_policy fail,
    which the reason says ("denied by hookaudit policy: ...")."""
    d = PolicyDecision
    aborts = session.execute(select(sub.c.id, sub.c.reason, sub.c.started_at)
                             .order_by(sub.c.started_at.desc()).limit(ROWS_READ)).all()
    ids = [a.id for a in aborts]
    refusing: dict[int, list[tuple[str, str]]] = {}
    for i in range(0, len(ids), 1000):
        rows = session.execute(select(d.event_id, d.rule_id, d.verdict)
                               .where(d.event_id.in_(ids[i:i + 1000]), d.mode == "enforce",
                                      or_(d.verdict == "deny", d.verdict == "error"))
                               .order_by(d.id))
        for pk, rule_id, verdict in rows:
            refusing.setdefault(pk, []).append((rule_id, verdict))
    groups: dict = {}
    for pk, reason, started_at in aborts:
        decided = refusing.get(pk, [])
        rules = [r for r, v in decided if v == "deny"]
        if not rules and (reason or "").startswith(POLICY_REFUSAL):
            rules = [r for r, v in decided if v == "error"]
        for kind, key in [("rule", r) for r in dict.fromkeys(rules)] or [cause(reason, [])]:
            _merge(groups, kind, key, 1, started_at)
    return list(groups.values())

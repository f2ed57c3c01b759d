"""Aborts grouped: which reasons, hosts, rules or guests the refused starts share (the aborts
page's groups table and GET /api/v1/aborts/groups). The list itself is
``app.services.events.list_aborts``."""
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import PolicyDecision
from app.services.events import ABORTS_CLAUSE, base_query
from app.timeutil import iso, utcnow

GROUPINGS = ("reason", "host", "rule", "guest")
GROUPS_SHOWN = 50


def abort_groups(session: Session, filters, by: str = "reason", default_days: int = 7) -> dict:
    """Aborted/killed/timed-out calls matching ``filters`` grouped by reason, host, rule or
    guest, biggest group first (one query over the ``ix_events_aborts`` partial index).
    Without ``since`` the groups cover the last ``default_days``: patterns are about now, and
    aggregating years of aborts on every page view would not stay fast."""
    if filters.since is None:
        filters = filters.model_copy(update={"since": utcnow() - timedelta(days=default_days)})
    sub = base_query(session, filters).where(ABORTS_CLAUSE).subquery()
    if by == "rule":
        key = PolicyDecision.rule_id
        stmt = (select(key, func.count(), func.max(sub.c.started_at)).select_from(sub)
                .join(PolicyDecision, PolicyDecision.event_id == sub.c.id)
                .where(PolicyDecision.verdict == "deny"))
    else:
        key = {"reason": sub.c.reason, "host": sub.c.host, "guest": sub.c.object}[by]
        stmt = select(key, func.count(), func.max(sub.c.started_at))
    stmt = stmt.group_by(key).order_by(func.count().desc(), key).limit(GROUPS_SHOWN)
    groups = [{"key": k, "count": n, "latest_at": iso(latest)}
              for k, n, latest in session.execute(stmt)]
    return {"by": by, "since": iso(filters.since), "groups": groups}

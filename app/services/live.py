"""The live tail ("rows after X"): the calls after the newest one a page shows.

Its cursor is readable on purpose, ``<started_at>|<event_id>``: the page builds it from the
row it shows, and event_id (not the row id) orders calls at the same microsecond on every
database.
"""
from sqlalchemy import tuple_
from sqlalchemy.orm import Session

from app.models import Event
from app.services.errors import InvalidCursor
from app.services.events import base_query, summary
from app.timeutil import parse_iso


def tail_cursor(event: dict | None) -> str | None:
    """The live-tail cursor of an event summary: "<started_at>|<event_id>"."""
    return f"{event['started_at']}|{event['event_id']}" if event else None


def rows_after(session: Session, filters, cursor: str, limit: int = 200) -> dict:
    """Live tail ("rows after X"): events matching ``filters`` strictly after ``cursor`` in
    (started_at, event_id) order, oldest first, and the cursor of the newest one returned.

    event_id breaks ties between calls at the same microsecond; with a guest or host filter
    the (…, started_at, id) indexes narrow the scan to the newest rows."""
    when, _, event_id = cursor.partition("|")
    try:
        key = (parse_iso(when), event_id)
    except ValueError:
        raise InvalidCursor("cursor is not one this page returned") from None
    stmt = base_query(session, filters).where(
        Event.started_at >= key[0], tuple_(Event.started_at, Event.event_id) > tuple_(*key))
    rows = session.execute(stmt.order_by(Event.started_at, Event.event_id).limit(limit)).all()
    items = [summary(r) for r in rows]
    return {"items": items, "cursor": tail_cursor(items[-1]) if items else cursor}

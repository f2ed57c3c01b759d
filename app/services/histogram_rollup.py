"""The histograms' per-hour rollup (table ``histogram_hours``): calls per hour of started_at,
host, driver, op and outcome, kept exact in the transactions that write events.

    hour_of        whole hours since 1970 (floored) of a naive UTC time: the rollup's key
    add            count stored events in (ingest, in the insert's transaction)
    subtract       uncount deleted events (retention, in the delete's transaction)
    covers         whether the rollup can answer a histogram with these filters and step
    whole_hours    the whole hours inside a range (its partial edge hours are counted on rows)
    hour_counts    (bucket, outcome, count) rows of the whole hours, from the rollup
    rebuild        recount everything from the events table (bench seeding, repair)

Only the dimensions that are cheap to key are in it: host (a ``host=`` filter, globs
included, is resolved to host ids first, exactly as the events list does), driver, op and
outcome (the aborts scope is three outcomes). Guest, rule, verdict and text filters need
the rows: such histograms keep counting them (app/services/histogram.py).
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, and_, bindparam, cast, delete, func, select, text, update
from sqlalchemy.orm import Session

from app.db import is_postgresql
from app.models import ABORT_OUTCOMES, HistogramHour
from app.schemas_query import EventFilters

EPOCH = datetime(1970, 1, 1)
HOUR = timedelta(hours=1)
KEY = ("hour", "host_id", "driver", "op", "outcome")
TABLE = HistogramHour.__table__

# Hour of events.started_at in SQL, equal to hour_of: the hour-truncated time is a whole
# multiple of 3600 s, so the division is exact on both engines (before 1970 too).
HOUR_SQL = {
    "sqlite": "CAST(strftime('%s', strftime('%Y-%m-%d %H:00:00', started_at)) AS INTEGER) / 3600",
    "postgresql": "CAST(extract(epoch FROM date_trunc('hour', started_at)) AS BIGINT) / 3600",
}


def hour_of(when: datetime) -> int:
    """Whole hours since 1970 of ``when`` (naive UTC), floored."""
    return (when - EPOCH) // HOUR


def _deltas(host_id: int, events) -> list[dict]:
    """One row per key of ``events`` ((started_at, driver, op, outcome) tuples), sorted so
    that concurrent writers lock rows in one order."""
    counts = Counter((hour_of(at), driver, op, outcome) for at, driver, op, outcome in events)
    return [{"hour": h, "host_id": host_id, "driver": d, "op": o, "outcome": out, "calls": n}
            for (h, d, o, out), n in sorted(counts.items())]


def add(session: Session, host_id: int, events) -> None:
    """Count ``events`` of ``host_id`` (tuples (started_at, driver, op, outcome) as stored)."""
    rows = _deltas(host_id, events)
    if not rows:
        return
    if is_postgresql(session.bind):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(TABLE)
    stmt = stmt.on_conflict_do_update(index_elements=list(KEY),
                                      set_={"calls": TABLE.c.calls + stmt.excluded.calls})
    session.connection().execute(stmt, rows)


def subtract(session: Session, host_id: int, events) -> None:
    """Uncount deleted ``events`` of ``host_id``; hours left at zero lose their row."""
    rows = _deltas(host_id, events)
    if not rows:
        return
    match = and_(*(TABLE.c[k] == bindparam("_" + k) for k in KEY))
    conn = session.connection()
    conn.execute(update(TABLE).where(match).values(calls=TABLE.c.calls - bindparam("_calls")),
                 [{"_" + k: v for k, v in r.items()} for r in rows])
    hours = sorted({r["hour"] for r in rows})
    conn.execute(delete(TABLE).where(TABLE.c.host_id == host_id, TABLE.c.hour.in_(hours),
                                     TABLE.c.calls <= 0))


def covers(f: EventFilters, step: timedelta) -> bool:
    """The rollup answers buckets of whole hours under host/driver/op/outcome filters."""
    return step % HOUR == timedelta(0) and not (f.guest or f.rule or f.verdict or f.q)


def whole_hours(since: datetime, until: datetime) -> tuple[datetime, datetime] | None:
    """(first, last): the whole hours first..last inside since..until, None if there are none."""
    first = EPOCH + HOUR * -((EPOCH - since) // HOUR)       # since rounded up to an hour
    last = EPOCH + HOUR * ((until - EPOCH) // HOUR)         # until rounded down
    return (first, last) if first < last else None


def hour_counts(session: Session, f: EventFilters, host_ids: list[int] | None,
                first: datetime, last: datetime, t0: datetime, step: timedelta,
                aborts: bool) -> list[tuple[int, str, int]]:
    """(bucket on the grid t0 + k*step, outcome, calls) of the hours first..last, with the
    filters of ``f`` the rollup covers (``host_ids``: ``f.host`` resolved, None without)."""
    step_s, offset = int(step.total_seconds()), int((t0 - EPOCH).total_seconds())
    bucket = ((TABLE.c.hour * 3600 - offset) // step_s).label("bucket")
    stmt = (select(bucket, TABLE.c.outcome, cast(func.sum(TABLE.c.calls), BigInteger))
            .where(TABLE.c.hour >= hour_of(first), TABLE.c.hour < hour_of(last)))
    if host_ids is not None:
        stmt = stmt.where(TABLE.c.host_id.in_(host_ids))
    for column, values in ((TABLE.c.driver, f.driver), (TABLE.c.op, f.op),
                           (TABLE.c.outcome, f.outcome)):
        if values:
            stmt = stmt.where(column.in_(values))
    if aborts:
        stmt = stmt.where(TABLE.c.outcome.in_(ABORT_OUTCOMES))
    return [tuple(r) for r in session.execute(stmt.group_by(bucket, TABLE.c.outcome))]


def rebuild(session: Session) -> int:
    """Recount the whole rollup from the events table; returns the number of rows."""
    dialect = "postgresql" if is_postgresql(session.bind) else "sqlite"
    session.execute(delete(TABLE))
    session.execute(text(
        f"INSERT INTO histogram_hours (hour, host_id, driver, op, outcome, calls) "
        f"SELECT {HOUR_SQL[dialect]} AS h, host_id, driver, op, outcome, count(*) "
        f"FROM events GROUP BY h, host_id, driver, op, outcome"))
    return session.scalar(select(func.count()).select_from(TABLE))

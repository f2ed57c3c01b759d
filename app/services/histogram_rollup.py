"""The histograms' per-half-hour rollup (table ``histogram_slots``): calls per half hour
("slot") of started_at, host, driver, op and outcome, kept exact in the transactions that
write events.

    slot_of        whole half hours since 1970 (floored) of a naive UTC time: the rollup's key
    add            count stored events in (ingest, in the insert's transaction)
    subtract       uncount deleted events (retention, in the delete's transaction)
    covers         whether the rollup can answer a histogram with these filters and step
    whole_slots    the whole slots inside a range (its partial edge slots are counted on rows)
    slot_counts    (bucket, outcome, count) rows of the whole slots, from the rollup
    rebuild        recount everything from the events table (bench seeding, repair)

The grain is half an hour because that is the smallest step the histograms use over ranges
long enough to cost (app.timerange.bucket_step: 24 h -> 30 min, 7 d -> 3 h, 30 d -> 12 h);
an hourly grain left the 24-hour pages counting the day's rows.

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
from app.models import ABORT_OUTCOMES, HistogramSlot
from app.schemas_query import EventFilters

EPOCH = datetime(1970, 1, 1)
SLOT = timedelta(minutes=30)
KEY = ("slot", "host_id", "driver", "op", "outcome")
TABLE = HistogramSlot.__table__
ABORTS_CLAUSE = text("histogram_slots.outcome IN ('aborted', 'killed', 'timed_out')")
assert set(ABORT_OUTCOMES) == {"aborted", "killed", "timed_out"}

# Slot of events.started_at in SQL, equal to slot_of: the hour-truncated time is a whole
# multiple of 3600 s, so its division by 1800 is exact on both engines (before 1970 too,
# where a plain integer division of the seconds would round towards zero), plus one in the
# second half of the hour.
SLOT_SQL = {
    "sqlite": "CAST(strftime('%s', strftime('%Y-%m-%d %H:00:00', started_at)) AS INTEGER) / 1800"
              " + (CAST(strftime('%M', started_at) AS INTEGER) >= 30)",
    "postgresql": "CAST(extract(epoch FROM date_trunc('hour', started_at)) AS BIGINT) / 1800"
                  " + CASE WHEN extract(minute FROM started_at) >= 30 THEN 1 ELSE 0 END",
}


def slot_of(when: datetime) -> int:
    """Whole half hours since 1970 of ``when`` (naive UTC), floored."""
    return (when - EPOCH) // SLOT


def _deltas(host_id: int, events) -> list[dict]:
    """One row per key of ``events`` ((started_at, driver, op, outcome) tuples), sorted so
    that concurrent writers lock rows in one order."""
    counts = Counter((slot_of(at), driver, op, outcome) for at, driver, op, outcome in events)
    return [{"slot": h, "host_id": host_id, "driver": d, "op": o, "outcome": out, "calls": n}
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
    """Uncount deleted ``events`` of ``host_id``; slots left at zero lose their row."""
    rows = _deltas(host_id, events)
    if not rows:
        return
    match = and_(*(TABLE.c[k] == bindparam("_" + k) for k in KEY))
    conn = session.connection()
    conn.execute(update(TABLE).where(match).values(calls=TABLE.c.calls - bindparam("_calls")),
                 [{"_" + k: v for k, v in r.items()} for r in rows])
    slots = sorted({r["slot"] for r in rows})
    conn.execute(delete(TABLE).where(TABLE.c.host_id == host_id, TABLE.c.slot.in_(slots),
                                     TABLE.c.calls <= 0))


def covers(f: EventFilters, step: timedelta) -> bool:
    """The rollup answers buckets of whole slots under host/driver/op/outcome filters."""
    return step % SLOT == timedelta(0) and not (f.guest or f.rule or f.verdict or f.q)


def whole_slots(since: datetime, until: datetime) -> tuple[datetime, datetime] | None:
    """(first, last): the whole slots first..last inside since..until, None if there are none."""
    first = EPOCH + SLOT * -((EPOCH - since) // SLOT)       # since rounded up to a slot
    last = EPOCH + SLOT * ((until - EPOCH) // SLOT)         # until rounded down
    return (first, last) if first < last else None


def slot_counts(session: Session, f: EventFilters, host_ids: list[int] | None,
                first: datetime, last: datetime, t0: datetime, step: timedelta,
                aborts: bool) -> list[tuple[int, str, int]]:
    """(bucket on the grid t0 + k*step, outcome, calls) of the slots first..last, with the
    filters of ``f`` the rollup covers (``host_ids``: ``f.host`` resolved, None without)."""
    step_s, offset = int(step.total_seconds()), int((t0 - EPOCH).total_seconds())
    slot_s = int(SLOT.total_seconds())
    bucket = ((TABLE.c.slot * slot_s - offset) // step_s).label("bucket")
    stmt = (select(bucket, TABLE.c.outcome, cast(func.sum(TABLE.c.calls), BigInteger))
            .where(TABLE.c.slot >= slot_of(first), TABLE.c.slot < slot_of(last)))
    if host_ids is not None:
        stmt = stmt.where(TABLE.c.host_id.in_(host_ids))
    for column, values in ((TABLE.c.driver, f.driver), (TABLE.c.op, f.op),
                           (TABLE.c.outcome, f.outcome)):
        if values:
            stmt = stmt.where(column.in_(values))
    if aborts:      # written out, as the partial index's predicate is (SQLite matches text)
        stmt = stmt.where(ABORTS_CLAUSE)
    return [tuple(r) for r in session.execute(stmt.group_by(bucket, TABLE.c.outcome))]


def rebuild(session: Session) -> int:
    """Recount the whole rollup from the events table; returns the number of rows."""
    dialect = "postgresql" if is_postgresql(session.bind) else "sqlite"
    session.execute(delete(TABLE))
    session.execute(text(
        f"INSERT INTO histogram_slots (slot, host_id, driver, op, outcome, calls) "
        f"SELECT {SLOT_SQL[dialect]} AS h, host_id, driver, op, outcome, count(*) "
        f"FROM events GROUP BY h, host_id, driver, op, outcome"))
    return session.scalar(select(func.count()).select_from(TABLE))

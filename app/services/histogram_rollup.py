"""The histograms' rollup: calls per time slot of started_at, host, driver, op and outcome,
at two levels kept exact in the transactions that write events: per half hour (table
``histogram_slots``) and per three hours (``histogram_slots_3h``, the coarse level).

    slot_of        whole slots since 1970 (floored) of a naive UTC time: the rollup's key
    add            count stored events in (ingest, in the insert's transaction)
    subtract       uncount deleted events (retention, in the delete's transaction)
    covers         whether the rollup can answer a histogram with these filters and step
    whole_slots    the whole slots inside a range (its partial edge slots are counted on rows)
    pieces         which level answers which part of those whole slots
    slot_counts    (bucket, outcome, count) rows of whole slots of one level, from the rollup
    rebuild        recount everything from the events table (bench seeding, repair)

The fine grain is half an hour because that is the smallest step the histograms use over
ranges long enough to cost (app.timerange.bucket_step: 24 h -> 30 min, 7 d -> 3 h,
30 d -> 12 h); an hourly grain left the 24-hour pages counting the day's rows. The coarse
grain is three hours, the 7-day step, of which every longer step (6 h, 12 h, 1 d, ...) is
a whole number: a 30-day histogram sums 240 coarse slots' rows instead of 1,440 half
hours', and only the half hours between the range's whole slots and its whole 3-hour
periods (at most 5 at each edge) are read from the fine level.

Only the dimensions that are cheap to key are in it: host (a ``host=`` filter, globs
included, is resolved to host ids first, exactly as the events list does), driver, op and
outcome (the aborts scope is three outcomes). Guest, rule, verdict and text filters need
the rows: such histograms keep counting them (app/services/histogram.py).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (BigInteger, Table, and_, bindparam, cast, delete, func, select, text,
                        update)
from sqlalchemy.orm import Session

from app.db import is_postgresql
from app.models import ABORT_OUTCOMES, HistogramSlot, HistogramSlot3h
from app.schemas_query import EventFilters

EPOCH = datetime(1970, 1, 1)
KEY = ("slot", "host_id", "driver", "op", "outcome")
assert set(ABORT_OUTCOMES) == {"aborted", "killed", "timed_out"}


@dataclass(frozen=True)
class Level:
    """One level of the rollup: its table and the length of its slots."""

    table: Table
    length: timedelta

    @property
    def aborts_clause(self):
        # written out, as the partial index's predicate is (SQLite matches the text)
        return text(f"{self.table.name}.outcome IN ('aborted', 'killed', 'timed_out')")


FINE = Level(HistogramSlot.__table__, timedelta(minutes=30))
COARSE = Level(HistogramSlot3h.__table__, timedelta(hours=3))
LEVELS = (FINE, COARSE)         # the order every writer locks rows in
SLOT, TABLE = FINE.length, FINE.table
PER_COARSE = COARSE.length // FINE.length       # 6 half hours in a coarse slot

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
# The coarse slot of a half-hour slot, floored on both engines (whose integer division
# truncates towards zero): subtract the non-negative remainder first, then divide exactly.
COARSE_OF_SLOT_SQL = "(slot - ((slot % 6) + 6) % 6) / 6"
assert PER_COARSE == 6


def slot_of(when: datetime, length: timedelta = SLOT) -> int:
    """Whole slots of ``length`` (default half hours) since 1970 of ``when`` (naive UTC),
    floored."""
    return (when - EPOCH) // length


def _deltas(host_id: int, events: list, length: timedelta) -> list[dict]:
    """One row per key of ``events`` ((started_at, driver, op, outcome) tuples), sorted so
    that concurrent writers lock rows in one order."""
    counts = Counter((slot_of(at, length), driver, op, outcome)
                     for at, driver, op, outcome in events)
    return [{"slot": h, "host_id": host_id, "driver": d, "op": o, "outcome": out, "calls": n}
            for (h, d, o, out), n in sorted(counts.items())]


def add(session: Session, host_id: int, events) -> None:
    """Count ``events`` of ``host_id`` (tuples (started_at, driver, op, outcome) as stored)
    at both levels."""
    events = list(events)
    if not events:
        return
    if is_postgresql(session.bind):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for level in LEVELS:
        table = level.table
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(KEY),
                                          set_={"calls": table.c.calls + stmt.excluded.calls})
        session.connection().execute(stmt, _deltas(host_id, events, level.length))


def subtract(session: Session, host_id: int, events) -> None:
    """Uncount deleted ``events`` of ``host_id`` at both levels; slots left at zero lose
    their row."""
    events = list(events)
    if not events:
        return
    conn = session.connection()
    for level in LEVELS:
        table, rows = level.table, _deltas(host_id, events, level.length)
        match = and_(*(table.c[k] == bindparam("_" + k) for k in KEY))
        conn.execute(update(table).where(match)
                     .values(calls=table.c.calls - bindparam("_calls")),
                     [{"_" + k: v for k, v in r.items()} for r in rows])
        slots = sorted({r["slot"] for r in rows})
        conn.execute(delete(table).where(table.c.host_id == host_id, table.c.slot.in_(slots),
                                         table.c.calls <= 0))


def covers(f: EventFilters, step: timedelta) -> bool:
    """The rollup answers buckets of whole slots under host/driver/op/outcome filters."""
    return step % SLOT == timedelta(0) and not (f.guest or f.rule or f.verdict or f.q)


def whole_slots(since: datetime, until: datetime,
                length: timedelta = SLOT) -> tuple[datetime, datetime] | None:
    """(first, last): the whole slots first..last inside since..until, None if there are none."""
    first = EPOCH + length * -((EPOCH - since) // length)       # since rounded up to a slot
    last = EPOCH + length * ((until - EPOCH) // length)         # until rounded down
    return (first, last) if first < last else None


def pieces(first: datetime, last: datetime, t0: datetime, step: timedelta,
           aborts: bool = False) -> list[tuple[Level, datetime, datetime]]:
    """Which level answers which part of the whole half hours first..last of a histogram on
    the grid t0 + k*step: the whole 3-hour slots inside from the coarse level when no bucket
    edge can fall inside one (step and t0 whole multiples of 3 hours), the half hours
    around them from the fine level; all from the fine level otherwise, and for the aborts
    scope (aborts are sparse: a 3-hour row holds about one, so the coarse level would read
    as many rows, in three queries instead of one, without the fine level's partial index)."""
    aligned = step % COARSE.length == timedelta(0) and (t0 - EPOCH) % COARSE.length == \
        timedelta(0)
    inner = whole_slots(first, last, COARSE.length) if aligned and not aborts else None
    if inner is None:
        return [(FINE, first, last)]
    lo, hi = inner
    return [(level, a, b) for level, a, b in ((COARSE, lo, hi), (FINE, first, lo),
                                              (FINE, hi, last)) if a < b]


def slot_counts(session: Session, f: EventFilters, host_ids: list[int] | None,
                first: datetime, last: datetime, t0: datetime, step: timedelta,
                aborts: bool, level: Level = FINE) -> list[tuple[int, str, int]]:
    """(bucket on the grid t0 + k*step, outcome, calls) of the slots first..last of
    ``level``, with the filters of ``f`` the rollup covers (``host_ids``: ``f.host``
    resolved, None without)."""
    table = level.table
    step_s, offset = int(step.total_seconds()), int((t0 - EPOCH).total_seconds())
    slot_s = int(level.length.total_seconds())
    bucket = ((table.c.slot * slot_s - offset) // step_s).label("bucket")
    stmt = (select(bucket, table.c.outcome, cast(func.sum(table.c.calls), BigInteger))
            .where(table.c.slot >= slot_of(first, level.length),
                   table.c.slot < slot_of(last, level.length)))
    if host_ids is not None:
        stmt = stmt.where(table.c.host_id.in_(host_ids))
    for column, values in ((table.c.driver, f.driver), (table.c.op, f.op),
                           (table.c.outcome, f.outcome)):
        if values:
            stmt = stmt.where(column.in_(values))
    if aborts:
        stmt = stmt.where(level.aborts_clause)
    return [tuple(r) for r in session.execute(stmt.group_by(bucket, table.c.outcome))]


def rebuild_coarse(session: Session) -> int:
    """Recount the coarse level from the half-hour one; returns its number of rows."""
    session.execute(delete(COARSE.table))
    session.execute(text(
        f"INSERT INTO {COARSE.table.name} (slot, host_id, driver, op, outcome, calls) "
        f"SELECT {COARSE_OF_SLOT_SQL} AS c, host_id, driver, op, outcome, sum(calls) "
        f"FROM {FINE.table.name} GROUP BY c, host_id, driver, op, outcome"))
    return session.scalar(select(func.count()).select_from(COARSE.table))


def rebuild(session: Session) -> int:
    """Recount the whole rollup from the events table (the half hours in one pass over it,
    the 3-hour level from those); returns the number of half-hour rows."""
    dialect = "postgresql" if is_postgresql(session.bind) else "sqlite"
    session.execute(delete(TABLE))
    session.execute(text(
        f"INSERT INTO histogram_slots (slot, host_id, driver, op, outcome, calls) "
        f"SELECT {SLOT_SQL[dialect]} AS h, host_id, driver, op, outcome, count(*) "
        f"FROM events GROUP BY h, host_id, driver, op, outcome"))
    rebuild_coarse(session)
    return session.scalar(select(func.count()).select_from(TABLE))

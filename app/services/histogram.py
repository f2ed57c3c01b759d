"""Calls over time, counted in the database: bucketed GROUP BY counts, never rows.

    epoch_seconds     a SQL expression: whole seconds since 1970 of a naive UTC column,
                      compiled per dialect (SQLite strftime, PostgreSQL extract)
    bucket_counts     (bucket index, key, count) rows of any SELECT, for any time column
    dense_buckets     those rows as every bucket of the range, zeros included
    histogram         the events (or aborts) matching filters, per bucket and outcome
    outcome_totals    calls per outcome over a range (the overview's counts), the same way
    totals_of         calls per outcome of a histogram already computed (the same answer)

Buckets of whole half hours under host/driver/op/outcome filters are read from the rollup
(histogram_rollup.py: whole 3-hour slots from its coarse level when the buckets are whole
3-hour multiples, the half hours around them from the fine one) and only the partial slots
at the range's edges are counted on rows; other filters (guest, rule, verdict, text) count
the rows of the whole range.

The bucket size comes from app.timerange.bucket_step; buckets are aligned to multiples of
it since the epoch, so the same range always cuts the same way (and links are stable).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Select, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.util import find_tables

from app.models import Event, Host
from app.schemas_query import EventFilters
from app.services import histogram_rollup as rollup
from app.services.events import ABORTS_CLAUSE, base_query, host_ids
from app.timerange import bucket_step, floor_to
from app.timeutil import iso, utcnow
from hookshim.event import OUTCOMES

EPOCH = datetime(1970, 1, 1)


class epoch_seconds(FunctionElement):  # noqa: N801 (a SQL function, named like one)
    """Whole seconds since 1970 of a naive UTC datetime column."""

    type = BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    # strftime('%s') of a time with fractions rounds it to the millisecond first (a call at
    # xx:29:59.9996 would count in the next second, and bucket), so whole seconds are taken
    # from the time without its fraction: its first 19 characters, as SQLAlchemy stores a
    # DateTime on SQLite ("YYYY-MM-DD HH:MM:SS.ffffff"). substr costs a third of the
    # strftime('%Y-%m-%d %H:%M:%S', ...) it replaced, per counted row.
    column = compiler.process(element.clauses, **kw)
    return "CAST(strftime('%%s', substr(%s, 1, 19)) AS INTEGER)" % column


@compiles(epoch_seconds, "postgresql")
def _epoch_pg(element, compiler, **kw):
    # timestamp without time zone: extract(epoch) reads it as UTC, which it is
    return "CAST(floor(extract(epoch FROM %s)) AS BIGINT)" % compiler.process(element.clauses,
                                                                           **kw)


def bucket_of(column, t0: datetime, step: timedelta):
    """The bucket index of ``column`` on the grid t0 + k*step (rows are >= t0: integer
    division is floor)."""
    seconds = int(step.total_seconds())
    offset = int((t0 - EPOCH).total_seconds())
    return (epoch_seconds(column) - offset) // seconds


def grid(since: datetime, until: datetime, max_buckets: int = 80):
    """(t0, step, number of buckets) covering since..until."""
    step = bucket_step(since, until, max_buckets)
    t0 = floor_to(since, step)
    return t0, step, max(1, -(-(until - t0) // step))


def dense_buckets(rows, since: datetime, until: datetime, t0: datetime, step: timedelta,
                  n: int, keys) -> list[dict]:
    """Every bucket of the grid, clipped to since..until, with a count per key (zeros too)."""
    counts = [dict.fromkeys(keys, 0) for _ in range(n)]
    for index, key, count in rows:
        if 0 <= index < n and key in counts[index]:
            counts[index][key] += count
    return [{"start": iso(max(t0 + i * step, since)), "end": iso(min(t0 + (i + 1) * step, until)),
             "counts": c, "total": sum(c.values())} for i, c in enumerate(counts)]


def _counting(listing: Select, *keys) -> Select:
    """SELECT keys, count(*) with the WHERE of ``listing`` (a list's query): without its join
    to hosts unless a filter needs that table (the join costs a lookup per counted row)."""
    where = listing.whereclause
    if where is not None and Host.__table__ in find_tables(where, check_columns=True):
        return listing.with_only_columns(*keys, func.count())      # keeps the join
    stmt = select(*keys, func.count()).select_from(Event)
    return stmt if where is None else stmt.where(where)


def _row_counts(session: Session, f: EventFilters, t0: datetime, step: timedelta,
                aborts: bool) -> list:
    """(bucket, outcome, count) of the events matching ``f``, counted row by row."""
    bucket = bucket_of(Event.started_at, t0, step).label("bucket")
    stmt = _counting(base_query(session, f), bucket, Event.outcome)
    if aborts:
        stmt = stmt.where(ABORTS_CLAUSE)
    return session.execute(stmt.group_by(bucket, Event.outcome)).all()


def _counts(session: Session, f: EventFilters, t0: datetime, step: timedelta, aborts: bool,
            use_rollup: bool) -> tuple[list, int, int]:
    """(bucket, outcome, count) rows over f.since..f.until, how many whole slots (half hours)
    of it the rollup answered and how many 3-hour slots of those its coarse level did: the
    partial slots at the edges, and filters the rollup does not key, are counted on the
    events rows (the sum is exactly the rows' count)."""
    slots = rollup.whole_slots(f.since, f.until) if use_rollup else None
    if slots is None or not rollup.covers(f, step):
        return _row_counts(session, f, t0, step, aborts), 0, 0
    first, last = slots
    ids = host_ids(session, f.host) if f.host else None
    rows, coarse = [], 0
    for level, lo, hi in rollup.pieces(first, last, t0, step, aborts):
        rows += rollup.slot_counts(session, f, ids, lo, hi, t0, step, aborts, level)
        if level is rollup.COARSE:
            coarse = (hi - lo) // level.length
    for lo, hi in ((f.since, first), (last, f.until)):
        if lo < hi:
            edge = f.model_copy(update={"since": lo, "until": hi})
            rows += _row_counts(session, edge, t0, step, aborts)
    return rows, (last - first) // rollup.SLOT, coarse


def outcome_totals(session: Session, since: datetime, until: datetime,
                   use_rollup: bool = True) -> dict[str, int]:
    """Calls per outcome started in since..until (every outcome of OUTCOMES, zeros too):
    whole slots from the rollup, the edges counted on rows (the overview's counts)."""
    f = EventFilters(since=since, until=until)
    totals = dict.fromkeys(OUTCOMES, 0)
    # One bucket spanning the range (whole 3-hour slots from one's start, so the coarse
    # level can answer): the database sums the slots, 5 rows reach Python instead of one per
    # slot and outcome.
    t0 = floor_to(since, rollup.COARSE.length)
    step = rollup.COARSE.length * max(1, -(-(until - t0) // rollup.COARSE.length))
    rows, _, _ = _counts(session, f, t0, step, False, use_rollup)
    for _bucket, outcome, count in rows:
        if outcome in totals:
            totals[outcome] += count
    return totals


def histogram(session: Session, f: EventFilters, aborts: bool = False,
              now: datetime | None = None, max_buckets: int = 80,
              use_rollup: bool = True) -> dict:
    """Calls matching ``f`` (aborted/killed/timed out only with ``aborts``) per bucket and
    outcome over f.since..f.until (until: now; since: a day before until). ``use_rollup``
    False counts every row (what the rollup's answers are tested against)."""
    until = f.until or now or utcnow()
    since = f.since or until - timedelta(hours=24)
    if since >= until:
        since = until - timedelta(seconds=1)
    f = f.model_copy(update={"since": since, "until": until})
    t0, step, n = grid(since, until, max_buckets)
    rows, rolled, coarse = _counts(session, f, t0, step, aborts, use_rollup)
    buckets = dense_buckets(rows, since, until, t0, step, n, OUTCOMES)
    return {"since": iso(since), "until": iso(until), "step_seconds": int(step.total_seconds()),
            "outcomes": list(OUTCOMES), "aborts_only": aborts, "buckets": buckets,
            "total": sum(b["total"] for b in buckets),
            "max": max((b["total"] for b in buckets), default=0),
            "slots_from_rollup": rolled, "slots_from_coarse": coarse}


def totals_of(h: dict) -> dict[str, int]:
    """Calls per outcome of histogram ``h``: outcome_totals over its range, without reading
    the range again (the overview page draws the histogram and counts the same range)."""
    return {o: sum(b["counts"][o] for b in h["buckets"]) for o in h["outcomes"]}

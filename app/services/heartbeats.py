"""Heartbeat history: every host's heartbeats kept, downsampled, pruned; outages from its gaps.

Each heartbeat is one row (``record``). The retention run (app/services/retention.py)
merges rows older than ``RAW_KEEP`` into one row per host and ``BUCKET`` (``downsample``:
the first and last beat it stands for, how many, the worst backlog and lag among them) and
deletes rows past the events' cutoff (``prune``). An outage is a gap between two beats (the
last of one row, the first of the next) longer than ``outage_after_s``: the host's own
interval would leave no such gap, whatever the row's age.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, String, case, delete, func, select, type_coerce

from app.db import is_postgresql
from app.models import HostHeartbeat
from app.timeutil import iso, utcnow
from hookshim import limits

RAW_KEEP = timedelta(hours=48)   # every beat as sent; older ones are merged per BUCKET
BUCKET = timedelta(minutes=10)
BATCH = 5000                     # raw rows read per transaction while downsampling
_EPOCH = datetime(1970, 1, 1)


def _cut(text: str | None, size: int = limits.HEARTBEAT_ERROR) -> str | None:
    return text.replace("\x00", "\\x00")[:size] if text else None


def record(session, host_id: int, hb, now: datetime) -> None:
    """One heartbeat (app/schemas.py ``Heartbeat``) as a history row."""
    session.add(HostHeartbeat(
        host_id=host_id, at=now, until=now, beats=1, bucketed=False,
        spool_depth=hb.spool_depth, oldest_unsent_age_s=hb.oldest_unsent_age_s,
        parked=hb.parked, last_error=_cut(hb.last_error), bundle_refused=_cut(hb.bundle_refused)))


def record_on_host(host, hb) -> None:
    """The latest bundle report and libvirt on the host row (hosts list, host page, metrics)."""
    host.hb_bundle_signer = _cut(hb.bundle_signer)
    serial = hb.bundle_serial
    host.hb_bundle_serial = serial if serial is not None and 0 <= serial <= limits.INT64 else None
    host.hb_bundle_refused = _cut(hb.bundle_refused)
    host.hb_bundle_warning = _cut(hb.bundle_warning)
    # None keeps what an older report said: a shim that stops sending them is not "unknown".
    host.hb_libvirt_version = _cut(hb.libvirt_version, 64) or host.hb_libvirt_version
    host.hb_libvirt_daemon = _cut(hb.libvirt_daemon, 64) or host.hb_libvirt_daemon


def bucket_of(at: datetime) -> datetime:
    """The start of the BUCKET that holds ``at``."""
    return _EPOCH + BUCKET * ((at - _EPOCH) // BUCKET)


def worst(values):
    """The largest value present (None when none is)."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _last(values):
    return next((v for v in reversed(values) if v is not None), None)


def _merge_into(keep: HostHeartbeat, rows: list) -> None:
    """``keep`` becomes the summary of itself and ``rows`` (all in time order)."""
    every = [keep, *rows]
    keep.at, keep.until = min(r.at for r in every), max(r.until for r in every)
    keep.beats, keep.bucketed = sum(r.beats for r in every), True
    for name in ("spool_depth", "oldest_unsent_age_s", "parked"):
        setattr(keep, name, worst([getattr(r, name) for r in every]))
    for name in ("last_error", "bundle_refused"):
        setattr(keep, name, _last([getattr(r, name) for r in every]))


def _downsample_batch(s, host_id: int, upto: datetime) -> tuple[int, int]:
    """Merge up to BATCH raw rows of one host: (raw rows read, rows deleted)."""
    rows = list(s.scalars(select(HostHeartbeat).where(
        HostHeartbeat.host_id == host_id, HostHeartbeat.bucketed.is_(False),
        HostHeartbeat.at < upto).order_by(HostHeartbeat.at, HostHeartbeat.id).limit(BATCH)))
    groups: dict[datetime, list] = {}
    for row in rows:
        groups.setdefault(bucket_of(row.at), []).append(row)
    doomed = []
    for start, group in groups.items():
        # A bucket cut by the previous batch (or run) already has its summary row: join it.
        keep = s.scalar(select(HostHeartbeat).where(
            HostHeartbeat.host_id == host_id, HostHeartbeat.bucketed.is_(True),
            HostHeartbeat.at >= start, HostHeartbeat.at < start + BUCKET).limit(1)) \
            if start == min(groups) else None
        keep, rest = (keep, group) if keep is not None else (group[0], group[1:])
        _merge_into(keep, rest)
        doomed += [r.id for r in rest]
    if doomed:
        s.execute(delete(HostHeartbeat).where(HostHeartbeat.id.in_(doomed)))
    return len(rows), len(doomed)


def downsample(db, now: datetime) -> int:
    """Merge every host's rows older than RAW_KEEP per BUCKET; returns the rows removed."""
    upto = bucket_of(now - RAW_KEEP)  # whole buckets only: a later run never splits one
    with db.session() as s:
        hosts = list(s.scalars(select(HostHeartbeat.host_id).distinct().where(
            HostHeartbeat.bucketed.is_(False), HostHeartbeat.at < upto)))
    removed = 0
    for host_id in hosts:
        while True:
            with db.session(write=True) as s:
                read, deleted = _downsample_batch(s, host_id, upto)
            removed += deleted
            if read < BATCH:
                break
    return removed


def prune(db, cutoff: datetime) -> int:
    """Delete history older than the events' retention cutoff."""
    with db.session(write=True) as s:
        return s.execute(delete(HostHeartbeat).where(HostHeartbeat.until < cutoff)).rowcount or 0


def _epoch_s(session, column):
    """Seconds since 1970 of a naive UTC DateTime column, on either engine."""
    if is_postgresql(session.bind):
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


def slot_stats(session, host_id: int, t0: datetime, t1: datetime, slots: int) -> dict:
    """{slot index: (beats, largest spool depth, largest lag, any refusal)} of the rows that
    began in [t0, t1], ``slots`` equal slots; counted in the database (one row per slot)."""
    width = (t1 - t0).total_seconds() / slots
    start = _epoch_s(session, HostHeartbeat.at) - (t0 - _EPOCH).total_seconds()
    slot = func.floor(start / width).label("slot")
    rows = session.execute(
        select(slot, func.sum(HostHeartbeat.beats), func.max(HostHeartbeat.spool_depth),
               func.max(HostHeartbeat.oldest_unsent_age_s),
               func.max(case((HostHeartbeat.bundle_refused.isnot(None), 1), else_=0)))
        .where(HostHeartbeat.host_id == host_id, HostHeartbeat.at >= t0, HostHeartbeat.at <= t1)
        .group_by(slot))
    return {min(int(i), slots - 1): (n, depth, lag, bool(refused))
            for i, n, depth, lag, refused in rows}


def gaps(session, host_id: int, t0: datetime, t1: datetime, longer_than_s: float) -> list:
    """Outages touching [t0, t1]: silences between consecutive rows (the last beat of one,
    the first of the next) longer than ``longer_than_s`` (a window function on PostgreSQL,
    ``silences`` on SQLite), and the silence after the host's last beat (end None) when it
    lasts."""
    mine = HostHeartbeat.host_id == host_id
    # one row each side of the range, so a silence across either end is seen whole
    lo = session.scalar(select(func.max(HostHeartbeat.at)).where(mine, HostHeartbeat.at < t0))
    hi = session.scalar(select(func.min(HostHeartbeat.at)).where(mine, HostHeartbeat.at > t1))
    span = (mine, HostHeartbeat.at >= (lo or t0), HostHeartbeat.at <= (hi or t1))
    if is_postgresql(session.bind):     # the window runs in PostgreSQL's own process
        prev = func.lag(HostHeartbeat.until, type_=DateTime)
        seq = (select(HostHeartbeat.at, prev.over(order_by=HostHeartbeat.at).label("prev"))
               .where(*span).subquery())
        silent = _epoch_s(session, seq.c.at) - _epoch_s(session, seq.c.prev)
        found = [Outage(prev, at) for at, prev in session.execute(
            select(seq.c.at, seq.c.prev).where(seq.c.prev.isnot(None), silent > longer_than_s)
            .order_by(seq.c.at))]
    else:
        # SQLite's window machinery and julianday cost ~42 ms over a month's ~9,800 rows:
        # the rows are compared in Python instead (``silences``), the two columns read as
        # stored text and parsed by fromisoformat (SQLAlchemy's DateTime processor is much
        # slower), exact to the microsecond where julianday's doubles are not
        rows = session.connection().execute(
            select(type_coerce(HostHeartbeat.at, String), type_coerce(HostHeartbeat.until, String))
            .where(*span).order_by(HostHeartbeat.at)).all()
        parse = datetime.fromisoformat
        found = silences([_Span(parse(at), parse(until)) for at, until in rows], longer_than_s)
    if hi is None:
        # the newest row's last beat (rows never overlap: a merged row ends before the next
        # begins), found on the (host_id, at) index, not by scanning every row for max(until)
        last = session.scalar(select(HostHeartbeat.until).where(mine)
                              .order_by(HostHeartbeat.at.desc(), HostHeartbeat.id.desc()).limit(1))
        if last is not None:
            found += outages([_Span(last, last)], utcnow(), longer_than_s)
    return found


@dataclass
class _Span:
    at: datetime
    until: datetime


@dataclass
class Outage:
    start: datetime           # the last beat before the silence
    end: datetime | None      # the first beat after it; None: still silent

    def as_dict(self, now: datetime) -> dict:
        return {"start": iso(self.start), "end": iso(self.end),
                "duration_s": round(((self.end or now) - self.start).total_seconds(), 3),
                "ongoing": self.end is None}


def silences(rows: list, outage_after_s: float) -> list[Outage]:
    """Silences longer than ``outage_after_s`` between consecutive rows (in ``at`` order)."""
    limit = timedelta(seconds=outage_after_s)
    return [Outage(a.until, b.at) for a, b in zip(rows, rows[1:]) if b.at - a.until > limit]


def outages(rows: list, now: datetime, outage_after_s: float) -> list[Outage]:
    """Silences longer than ``outage_after_s`` between consecutive rows, and after the last."""
    limit = timedelta(seconds=outage_after_s)
    found = silences(rows, outage_after_s)
    if rows and now - rows[-1].until > limit:
        found.append(Outage(rows[-1].until, None))
    return found


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

from sqlalchemy import delete, select

from app.models import HostHeartbeat
from app.timeutil import iso
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


def history(session, host_id: int, t0: datetime, t1: datetime) -> list[HostHeartbeat]:
    """The rows of one host in [t0, t1], in time order, with the one just before and the one
    just after: an outage across either end of the range is then seen whole."""
    mine = HostHeartbeat.host_id == host_id
    before = session.scalar(select(HostHeartbeat).where(mine, HostHeartbeat.at < t0)
                            .order_by(HostHeartbeat.at.desc(), HostHeartbeat.id.desc()).limit(1))
    after = session.scalar(select(HostHeartbeat).where(mine, HostHeartbeat.at > t1)
                           .order_by(HostHeartbeat.at, HostHeartbeat.id).limit(1))
    rows = list(session.scalars(select(HostHeartbeat).where(
        mine, HostHeartbeat.at >= t0, HostHeartbeat.at <= t1)
        .order_by(HostHeartbeat.at, HostHeartbeat.id)))
    return [r for r in (before, *rows, after) if r is not None]


@dataclass
class Outage:
    start: datetime           # the last beat before the silence
    end: datetime | None      # the first beat after it; None: still silent

    def as_dict(self, now: datetime) -> dict:
        return {"start": iso(self.start), "end": iso(self.end),
                "duration_s": round(((self.end or now) - self.start).total_seconds(), 3),
                "ongoing": self.end is None}


def outages(rows: list, now: datetime, outage_after_s: float) -> list[Outage]:
    """Silences longer than ``outage_after_s`` between consecutive rows, and after the last."""
    limit = timedelta(seconds=outage_after_s)
    found = [Outage(a.until, b.at) for a, b in zip(rows, rows[1:]) if b.at - a.until > limit]
    if rows and now - rows[-1].until > limit:
        found.append(Outage(rows[-1].until, None))
    return found


def row_dict(row: HostHeartbeat) -> dict:
    return {"at": iso(row.at), "until": iso(row.until), "beats": row.beats,
            "spool_depth": row.spool_depth, "oldest_unsent_age_s": row.oldest_unsent_age_s,
            "parked": row.parked, "last_error": row.last_error,
            "bundle_refused": row.bundle_refused}


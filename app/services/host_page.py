"""One host over a time range: health, outages, backlog and lag, libvirt, drivers, aborts.

The data of the host page and of ``GET /api/v1/hosts/{name}`` (built once, rendered twice).
Health over time is the range cut into ``SLOTS`` equal slots, each with the worst state seen
in it: ``down`` (inside an outage), ``refused`` (a bundle refusal was reported), ``lagging``
(oldest unsent event older than ``host_lag_warn_s``), ``ok``, or ``none`` (no heartbeat yet).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.config import Settings
from app.models import Event, Host
from app.services import heartbeats
from app.services.errors import Invalid, NotFound
from app.services.hosts import get_host
from app.timeutil import iso, utcnow

SLOTS = 120
BUCKET_SPAN = heartbeats.BUCKET   # a downsampled row may cover more than one narrow slot
DEFAULT_RANGE = timedelta(hours=24)
MAX_RANGE = timedelta(days=400)
RECENT_ABORTS = 10
ABORT_OUTCOMES_SHOWN = ("aborted", "killed", "timed_out")


def time_range(since: datetime | None, until: datetime | None, now: datetime):
    """(t0, t1) naive UTC: the default is the last 24 hours; refuses an empty or huge range."""
    t1 = until or now
    t0 = since or t1 - DEFAULT_RANGE
    if t0 >= t1:
        raise Invalid("since must be before until", {"since": iso(t0), "until": iso(t1)})
    if t1 - t0 > MAX_RANGE:
        raise Invalid("the range is longer than 400 days", {"since": iso(t0), "until": iso(t1)})
    return t0, t1


def outage_after_s(settings: Settings) -> float:
    """A silence longer than this is an outage: the stale threshold of the hosts list."""
    return float(settings.host_stale_after_s)


def host_page(session, settings: Settings, name: str, since=None, until=None) -> dict:
    """Everything the host page shows, as plain data; NotFound for an unknown host."""
    host = get_host(session, settings, name)
    if host is None:
        raise NotFound("host", name)
    now = utcnow()
    t0, t1 = time_range(since, until, now)
    host_id = session.scalar(select(Host.id).where(Host.name == name))
    outages = [o for o in heartbeats.gaps(session, host_id, t0, t1, outage_after_s(settings))
               if (o.end or now) >= t0 and o.start <= t1]
    stats = heartbeats.slot_stats(session, host_id, t0, t1, SLOTS)
    host.update({
        "range": {"since": iso(t0), "until": iso(t1)},
        "outage_after_s": outage_after_s(settings),
        "outages": [o.as_dict(now) for o in outages],
        "series": series(stats, outages, t0, t1, settings),
        "drivers": drivers_seen(session, host_id, t0, t1),
        "bundle_version": latest_bundle_version(session, host_id),
        "recent_aborts": recent_aborts(session, host_id),
    })
    return host


def _state(stat, down: bool, lag_warn_s: float) -> str:
    if down:
        return "down"
    if stat is None:
        return "none"
    _beats, _depth, lag, refused = stat
    if refused:
        return "refused"
    return "lagging" if (lag or 0) > lag_warn_s else "ok"


def series(stats: dict, outages: list, t0: datetime, t1: datetime, settings: Settings) -> list:
    """SLOTS slots over [t0, t1]: health, and the worst backlog and lag reported in each
    (``stats``: heartbeats.slot_stats). A slot inside an outage is down. Slots narrower than
    a downsampled row: one with no row of its own that is not in an outage continues the
    slot before it (the 10-minute row that began there covers it too)."""
    width = (t1 - t0) / SLOTS
    now, out, previous = utcnow(), [], None
    for i in range(SLOTS):
        start, end = t0 + width * i, t0 + width * (i + 1)
        down = start <= now and any(o.start < end and (o.end or now) > start for o in outages)
        stat = stats.get(i)
        if stat is None and previous is not None and not down and width < BUCKET_SPAN \
                and start <= now:
            stat = previous   # inside a downsampled bucket that began in an earlier slot
        out.append({"start": iso(start), "state": _state(stat, down, settings.host_lag_warn_s),
                    "spool_depth": stat[1] if stat else None,
                    "oldest_unsent_age_s": stat[2] if stat else None})
        previous = stat if not down else None
    return out


def drivers_seen(session, host_id: int, t0: datetime, t1: datetime) -> list[dict]:
    """The libvirt drivers whose hooks ran on the host in the range (the host index)."""
    rows = session.execute(
        select(Event.driver, func.count(), func.max(Event.started_at))
        .where(Event.host_id == host_id, Event.started_at >= t0, Event.started_at < t1)
        .group_by(Event.driver).order_by(Event.driver))
    return [{"driver": d, "calls": n, "last_at": iso(last)} for d, n, last in rows]


def latest_bundle_version(session, host_id: int) -> str | None:
    """The policy bundle version of the host's newest event (what its hooks enforce now)."""
    return session.scalar(select(Event.policy_bundle_version).where(Event.host_id == host_id)
                          .order_by(Event.started_at.desc(), Event.id.desc()).limit(1))


def recent_aborts(session, host_id: int) -> list[dict]:
    """The host's newest aborted, killed or timed-out calls (ix_events_host_aborts)."""
    rows = session.execute(
        select(Event.event_id, Event.started_at, Event.object, Event.driver, Event.op,
               Event.subop, Event.outcome, Event.reason)
        .where(Event.host_id == host_id, Event.outcome.in_(ABORT_OUTCOMES_SHOWN))
        .order_by(Event.started_at.desc(), Event.id.desc()).limit(RECENT_ABORTS))
    return [{"event_id": r.event_id, "started_at": iso(r.started_at), "object": r.object,
             "driver": r.driver, "op": r.op, "subop": r.subop, "outcome": r.outcome,
             "reason": r.reason} for r in rows]

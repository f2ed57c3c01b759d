"""One host over a time range: health, outages, backlog and lag, libvirt, drivers, aborts.

The data of the host page and of ``GET /api/v1/hosts/{name}`` (built once, rendered twice).
Health over time is the range cut into ``SLOTS`` equal slots, each with the worst state seen
in it: ``down`` (inside an outage), ``refused`` (a bundle refusal was reported), ``lagging``
(oldest unsent event older than ``host_lag_warn_s``), ``ok``, or ``none`` (no heartbeat yet).
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.config import Settings
from app.models import Event, Host
from app.services import heartbeats
from app.services.errors import Invalid, NotFound
from app.services.hosts import get_host
from app.timeutil import iso, utcnow

SLOTS = 120
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
    rows = heartbeats.history(session, host_id, t0, t1)
    outages = [o for o in heartbeats.outages(rows, now, outage_after_s(settings))
               if (o.end or now) >= t0 and o.start <= t1]
    host.update({
        "range": {"since": iso(t0), "until": iso(t1)},
        "outage_after_s": outage_after_s(settings),
        "outages": [o.as_dict(now) for o in outages],
        "series": series(rows, outages, t0, t1, settings),
        "drivers": drivers_seen(session, host_id, t0, t1),
        "bundle_version": latest_bundle_version(session, host_id),
        "recent_aborts": recent_aborts(session, host_id),
    })
    return host


def _slot_state(beats: list, in_outage: bool, lag_warn_s: float) -> str:
    if in_outage:
        return "down"
    if not beats:
        return "none"
    if any(b.bundle_refused for b in beats):
        return "refused"
    if any((b.oldest_unsent_age_s or 0) > lag_warn_s for b in beats):
        return "lagging"
    return "ok"


def series(rows: list, outages: list, t0: datetime, t1: datetime, settings: Settings) -> list:
    """SLOTS slots over [t0, t1]: health, and the worst backlog and lag reported in each."""
    width = (t1 - t0) / SLOTS
    slots: list[list] = [[] for _ in range(SLOTS)]
    for row in rows:
        lo = max(math.floor((row.at - t0) / width), 0)
        hi = min(math.floor((row.until - t0) / width), SLOTS - 1)
        for i in range(lo, hi + 1):
            slots[i].append(row)
    now, out = utcnow(), []
    for i, beats in enumerate(slots):
        start, end = t0 + width * i, t0 + width * (i + 1)
        down = any(o.start < end and (o.end or now) > start for o in outages) and start <= now
        out.append({
            "start": iso(start), "state": _slot_state(beats, down, settings.host_lag_warn_s),
            "spool_depth": heartbeats.worst([b.spool_depth for b in beats]),
            "oldest_unsent_age_s": heartbeats.worst([b.oldest_unsent_age_s for b in beats]),
        })
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

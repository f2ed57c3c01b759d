"""A guest's life as swimlanes: pure derivation from its events, no I/O.

``build_timeline(events, t0, t1)`` turns hook events (any order) into one lane per host with
a *boot* bar per prepare→release (libvirt's lifecycle, see shared/docs/libvirt-hooks.md),
migration arrows (the destination's ``migrate`` filter call, from the host the guest was
running on) and marks for every aborted / killed / timed-out call. ``timeline_svg`` renders it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

# Worst first: a boot takes the colour of its worst call.
SEVERITY = {"aborted": 5, "killed": 4, "timed_out": 3, "failed_ignored": 2, "ok": 1}
BAD = ("aborted", "killed", "timed_out")
# Ops that begin a boot on a host; release closes it (stopped alone leaves it until release).
OPENING_OPS = ("prepare", "reconnect", "migrate")


@dataclass
class Bar:
    host: str
    start: datetime
    end: datetime | None            # None: still running at t1
    outcome: str = "ok"
    event_id: str | None = None     # the call that opened the boot
    label: str = "boot"


@dataclass(frozen=True)
class Mark:
    host: str
    at: datetime
    outcome: str
    label: str                      # "start aborted", "started killed", ...
    event_id: str | None


@dataclass(frozen=True)
class Migration:
    source: str | None              # None: the source host never reported (no open boot seen)
    dest: str
    at: datetime
    outcome: str
    event_id: str | None


@dataclass
class Timeline:
    t0: datetime
    t1: datetime
    hosts: list[str] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    migrations: list[Migration] = field(default_factory=list)


def parse_time(value) -> datetime:
    """Event times arrive as ISO strings ("...Z") from JSON or naive/aware datetimes from the DB."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def worse(a: str, b: str) -> str:
    return a if SEVERITY.get(a, 0) >= SEVERITY.get(b, 0) else b


def build_timeline(events, t0, t1) -> Timeline:
    """Derive lanes, boot bars, migrations and marks from ``events`` within [t0, t1]."""
    tl = Timeline(t0=parse_time(t0), t1=parse_time(t1))
    open_boots: dict[str, Bar] = {}
    for ev in sorted(events, key=lambda e: (parse_time(e["started_at"]), e.get("seq") or 0)):
        _apply(tl, open_boots, ev)
    return tl


def _apply(tl: Timeline, open_boots: dict[str, Bar], ev: dict) -> None:
    host, op, outcome = ev["host"], ev.get("op"), ev.get("outcome") or "ok"
    at = parse_time(ev["started_at"])
    if host not in tl.hosts:
        tl.hosts.append(host)
    if op == "migrate":
        source = next((h for h in reversed(list(open_boots)) if h != host), None)
        tl.migrations.append(Migration(source, host, at, outcome, ev.get("event_id")))
    if op in OPENING_OPS and host not in open_boots:
        bar = Bar(host, at, None, "ok", ev.get("event_id"), label=f"{op} {ev.get('subop') or ''}")
        open_boots[host] = bar
        tl.bars.append(bar)
    bar = open_boots.get(host)
    if bar is not None:
        bar.outcome = worse(bar.outcome, outcome)
    if outcome in BAD:
        tl.marks.append(Mark(host, at, outcome, f"{op} {outcome.replace('_', ' ')}",
                             ev.get("event_id")))
        if bar is not None and op in ("prepare", "migrate") and outcome == "aborted":
            _close(open_boots, host, at)     # libxl: a refused prepare/migrate fires no release
    if op == "release" and bar is not None:
        _close(open_boots, host, at)


def _close(open_boots: dict[str, Bar], host: str, at: datetime) -> None:
    open_boots.pop(host).end = at

"""A guest's life as swimlanes: pure derivation from its boots, no I/O.

``timeline_from_boots(boots, t0, t1)`` turns the boots of ``app.services.guests`` (the data
of /api/v1/guests/{uuid}/timeline) into one lane per host with a bar per boot
(prepare→release, see docs/libvirt.md) coloured by its worst outcome, migration
arrows (source boot's host → destination) and marks for every aborted / killed / timed-out
call. ``timeline_svg`` renders it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

from app.timeutil import as_naive_utc

# Worst first: a boot takes the colour of its worst call.
SEVERITY = {"aborted": 5, "killed": 4, "timed_out": 3, "failed_ignored": 2, "ok": 1}
BAD = ("aborted", "killed", "timed_out")


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


def build_timeline(events, t0, t1) -> Timeline:
    """Events (any order) -> Timeline, through the server's boot grouping (one definition)."""
    from app.services.guests import group_boots

    ordered = sorted(events, key=lambda e: (as_naive_utc(e["started_at"]), e.get("seq") or 0))
    return timeline_from_boots(group_boots(ordered), t0, t1)


def timeline_from_boots(boots: list[dict], t0, t1) -> Timeline:
    """Boots as ``app.services.guests.group_boots`` returns them -> lanes, bars, arrows, marks."""
    tl = Timeline(t0=as_naive_utc(t0), t1=as_naive_utc(t1))
    for boot in boots:
        if boot["host"] not in tl.hosts:
            tl.hosts.append(boot["host"])
        tl.bars.append(_bar(boot))
        tl.marks.extend(Mark(ev["host"], as_naive_utc(ev["started_at"]), ev["outcome"],
                             f"{ev['op']} {ev['outcome'].replace('_', ' ')}", ev.get("event_id"))
                        for ev in boot["events"] if ev["outcome"] in BAD)
        if boot["via"] == "migration":
            tl.migrations.append(_migration(boots, boot))
    return tl


def _bar(boot: dict) -> Bar:
    # the worst outcome by SEVERITY, "ok" when none (max keeps the first of equals)
    outcome = max(chain(("ok",), (ev["outcome"] for ev in boot["events"])),
                  key=lambda o: SEVERITY.get(o, 0))
    first = boot["events"][0] if boot["events"] else {}
    end = boot["ended_at"]
    return Bar(boot["host"], as_naive_utc(boot["started_at"]), as_naive_utc(end) if end else None,
               outcome, first.get("event_id"), label=f"boot via {boot['via']}")


def _migration(boots: list[dict], boot: dict) -> Migration:
    src = boots[boot["migrated_from"]]["host"] if boot.get("migrated_from") is not None else None
    mig = next((ev for ev in boot["events"] if ev["op"] == "migrate"), boot["events"][0])
    return Migration(src, boot["host"], as_naive_utc(mig["started_at"]), mig["outcome"],
                     mig.get("event_id"))

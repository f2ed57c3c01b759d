"""When a guest held each fact: its boots, stitched across migrations (pure).

A boot is what app/services/guests.py ``group_boots`` says it is (prepare→release on one host,
an incoming migration or restore joining its own prepare). A migration hands the same boot
from host A to host B: ``stitch`` chains a boot to the one it migrated from, so the guest's
stay is one interval with two hosts. Within each boot a fact is held from the first event
whose XML has it until the boot ends (or an XML of that boot no longer has it: a migrate
filter that rewrote a disk path); the per-host pieces of one stay are then merged.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.facts.model import Fact
from app.services.guests import closes_boot, group_boots

# What group_boots reads besides op, host, started_at and outcome; hook events always carry
# them, callers with less (tests, backfills over summaries) get libvirt's "nothing" values.
EVENT_DEFAULTS = {"extra": "-", "driver": "", "event_id": None, "facts": None}


@dataclass(frozen=True, slots=True)
class Stay:
    """One boot of a guest, across the hosts it migrated through."""

    start: Any
    end: Any | None             # None: still running
    hosts: tuple[str, ...]
    status: str                 # group_boots' status of the last boot: running, ended, ...
    boots: tuple[dict, ...]


@dataclass(frozen=True, slots=True)
class FactInterval:
    """A fact held by a guest from ``start`` to ``end`` (None: open), with the proof."""

    fact: Fact
    start: Any
    end: Any | None
    hosts: tuple[str, ...]
    event_ids: tuple
    status: str


def stitch(events: Iterable[dict]) -> list[Stay]:
    """A guest's events (time order: op, subop, host, started_at, outcome) -> its stays.
    An aborted incoming migration is its own (aborted) stay: the guest never left."""
    boots = group_boots([{**EVENT_DEFAULTS, **ev} for ev in events])
    chains: list[list[dict]] = []
    chain_of: dict[int, list[dict]] = {}
    for boot in boots:
        source = boot["migrated_from"]
        chain = chain_of.get(source) if source is not None and boot["status"] != "aborted" \
            else None
        if chain is None:
            chain = []
            chains.append(chain)
        chain.append(boot)
        chain_of[boot["index"]] = chain
    return [_stay(chain) for chain in chains]


def _stay(chain: list[dict]) -> Stay:
    live = [b for b in chain if b["status"] != "aborted"] or chain
    ends = [b["ended_at"] for b in live]
    end = None if any(e is None for e in ends) else max(ends)
    return Stay(chain[0]["started_at"], end, tuple(dict.fromkeys(b["host"] for b in chain)),
                chain[-1]["status"], tuple(chain))


def fact_intervals(events: Iterable[dict]) -> list[FactInterval]:
    """Every fact of the guest with when it was held. Each event may carry ``facts``: the
    facts of its XML, or None when it had no readable XML (which ends nothing)."""
    return stay_intervals(stitch(events))


def quiet_points(stays: list[Stay]) -> list:
    """The starts of boots before which every earlier boot of the guest had ended, on every
    host: times ``q`` at which ``group_boots`` has no boot open after the events before ``q``.
    Nothing before ``q`` then depends on an event at or after ``q`` (no boot to join, no
    migration source, no stay to continue), and stitching the events from ``q`` on gives
    exactly the stays that start at or after ``q``: the facts pass recomputes a guest from
    such a point (app/services/facts_pass.py). Ascending."""
    boots = sorted((b for stay in stays for b in stay.boots), key=lambda b: b["index"])
    closed_at: dict[int, Any] = {}      # boot index -> when it left group_boots' open boots
    next_start: dict[str, Any] = {}     # host -> start of the next boot there (superseding)
    for boot in reversed(boots):
        last = boot["events"][-1]
        closed_at[boot["index"]] = last["started_at"] if closes_boot(last) \
            else next_start.get(boot["host"])
        next_start[boot["host"]] = boot["started_at"]
    points: list = []
    latest, pending = None, []      # latest close of the boots started before; pending: at start
    for boot in boots:
        start = boot["started_at"]
        if pending and pending[0]["started_at"] < start:   # a new start time: settle pending
            for b in pending:
                close = closed_at[b["index"]]
                latest = _INF if close is None or latest is _INF else \
                    close if latest is None else max(latest, close)
            pending = []
        if not pending and (latest is None or (latest is not _INF and latest < start)):
            points.append(start)
        pending.append(boot)
    return points


_INF = object()     # a boot still open: it never closes before any point


def stay_intervals(stays: Iterable[Stay]) -> list[FactInterval]:
    """``fact_intervals`` of stays already stitched."""
    out: list[FactInterval] = []
    for stay in stays:
        pieces = [piece for boot in stay.boots for piece in _boot_pieces(boot)]
        out.extend(_merge(pieces, stay.status))
    return sorted(out, key=lambda i: (i.start, i.fact.kind, i.fact.key))


def _boot_pieces(boot: dict) -> list[tuple]:
    """(fact, start, end, host, event ids) for one boot on one host. A fact is identified by
    (kind, key): the live XML adds attributes (a tap device, a bridge) to what the prepare XML
    had, and the fact keeps the latest ones."""
    held: dict[tuple[str, str], list] = {}     # identity -> [fact, start, event ids]
    pieces = []
    for ev in boot["events"]:
        if ev.get("facts") is None:
            continue
        now = {(f.kind, f.key): f for f in ev["facts"]}
        for identity in [i for i in held if i not in now]:
            fact, start, ids = held.pop(identity)
            pieces.append((fact, start, ev["started_at"], boot["host"], ids))
        for identity, fact in now.items():
            entry = held.setdefault(identity, [fact, ev["started_at"], []])
            entry[0] = fact
            entry[2].append(ev["event_id"])
    pieces.extend((fact, start, boot["ended_at"], boot["host"], ids)
                  for fact, start, ids in held.values())
    return pieces


def _merge(pieces: list[tuple], status: str) -> list[FactInterval]:
    """Join a fact's overlapping pieces (source and destination of a migration)."""
    merged: list[FactInterval] = []
    for fact, start, end, host, ids in sorted(pieces, key=lambda p: (p[0].kind, p[0].key, p[1])):
        last = merged[-1] if merged else None
        if last is not None and (last.fact.kind, last.fact.key) == (fact.kind, fact.key) \
                and (last.end is None or start <= last.end):
            merged[-1] = FactInterval(fact, last.start, _later(last.end, end),
                                      tuple(dict.fromkeys((*last.hosts, host))),
                                      (*last.event_ids, *ids), status)
        else:
            merged.append(FactInterval(fact, start, end, (host,), tuple(ids), status))
    return merged


def _later(a: Any | None, b: Any | None) -> Any | None:
    return None if a is None or b is None else max(a, b)

"""Collisions: one MAC on one network, or one writable disk, held by two guests at once (pure).

libvirt checks neither across hosts. The rules:
- **MAC**: two guests hold the same MAC with the same scope (``network:NAME``,
  ``bridge:NAME`` or ``direct:DEV``, see extract.py). A MAC whose segment libvirt does not name
  (user, ethernet, vhostuser ...) has no scope and never collides.
- **disk**: two guests hold the same source key, both writable (not ``<readonly/>``, not a
  CD-ROM, not ``<transient/>``), and not both ``<shareable/>``: libvirt's lock managers
  (virtlockd, sanlock) give a non-shareable writable disk an exclusive lease, so one shareable
  side is not enough.
A guest never collides with itself (the two hosts of a migration).

**Host-local segments.** A libvirt network in NAT, route or open mode, or an isolated one,
is a bridge only its host has: two hosts' private ``default`` networks share a name, not a
segment. ``Segments`` says which scopes are host-local (the network's own XML, as its hook
sends it, and the operator's overrides); ``per_segment`` qualifies such a holding's scope with
its host (``network:default@host-a``), so its MAC collides only within one host.
"""
from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import groupby
from typing import Any

from app.facts.intervals import FactInterval


@dataclass(frozen=True, slots=True)
class Holding:
    """A fact held by a guest over [start, end) (end None: still held)."""

    kind: str
    key: str
    guest: str
    hosts: tuple[str, ...]
    start: Any
    end: Any | None = None
    scope: str | None = None    # MAC: the segment; disks: unused
    writable: bool = False
    shareable: bool = False


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two guests holding one thing at once, from ``start`` until ``end`` (None: ongoing)."""

    kind: str
    key: str
    scope: str | None
    guests: tuple[str, str]
    hosts: tuple[str, ...]
    start: Any
    end: Any | None


@dataclass(frozen=True, slots=True)
class Segments:
    """Which MAC scopes are host-local. ``host_local``/``shared``: the operator's overrides
    (scopes such as ``network:default``, ``bridge:virbr1``), which win over what the
    network's XML says (``evidence``: its ``segment`` fact attribute, None: never seen)."""

    host_local: frozenset = frozenset()
    shared: frozenset = frozenset()

    @classmethod
    def parse(cls, host_local: str = "", shared: str = "") -> "Segments":
        """Comma-separated names: a bare name is a libvirt network (``default`` ->
        ``network:default``), ``bridge:NAME`` / ``direct:DEV`` / ``network:NAME`` as given."""
        return cls(_scopes(host_local), _scopes(shared))

    def is_local(self, scope: str, evidence: str | None) -> bool:
        if scope in self.shared:
            return False
        return scope in self.host_local or evidence == "host-local"


def _scopes(text: str) -> frozenset:
    names = (n.strip() for n in (text or "").split(","))
    return frozenset(n if ":" in n else "network:" + n for n in names if n)


def per_segment(h: Holding, local_on: Callable[[str], bool]) -> list[Holding]:
    """A MAC holding split by segment: on each host where its scope is host-local
    (``local_on(host)``) a holding of ``scope@host`` on that host alone; on the other hosts
    the holding as it is."""
    if h.kind != "mac" or h.scope is None:
        return [h]
    local = [host for host in h.hosts if local_on(host)]
    if not local:
        return [h]
    shared = tuple(host for host in h.hosts if host not in local)
    out = [replace(h, hosts=shared)] if shared else []
    return out + [replace(h, scope="%s@%s" % (h.scope, host), hosts=(host,)) for host in local]


def holding(guest: str, interval: FactInterval) -> Holding:
    """The collision view of one of a guest's fact intervals."""
    fact = interval.fact
    return Holding(fact.kind, fact.key, guest, interval.hosts, interval.start, interval.end,
                   fact.get("scope"), fact.get("writable") == "yes",
                   fact.get("shareable") == "yes")


def find_conflicts(holdings: Iterable[Holding]) -> list[Conflict]:
    """Every pair of guests whose holdings collide, with when the overlap starts and stops."""
    candidates = sorted((h for h in holdings if _may_collide(h)), key=_group_key)
    conflicts: list[Conflict] = []
    for _, group in groupby(candidates, key=_group_key):
        conflicts.extend(_overlaps(sorted(group, key=lambda h: h.start)))
    return sorted(_merged(conflicts), key=lambda c: (c.start, c.kind, c.key, c.guests))


def _merged(conflicts: list[Conflict]) -> list[Conflict]:
    """One conflict per (kind, key, scope, guests, start): a guest may hold one key in two
    stays at once (a boot a crashed host never released, and a new boot elsewhere), and both
    can overlap the other guest's holding from the same start. They are one conflict, until
    the last of them ends, on all their hosts (whatever order the holdings came in)."""
    by_identity: dict[tuple, list[Conflict]] = {}
    for c in conflicts:
        by_identity.setdefault((c.kind, c.key, c.scope, c.guests, c.start), []).append(c)
    out = []
    for same in by_identity.values():
        if len(same) == 1:
            out.append(same[0])
            continue
        ends = [c.end for c in same]
        hosts = tuple(dict.fromkeys(h for c in sorted(same, key=lambda c: c.hosts)
                                    for h in c.hosts))
        out.append(Conflict(same[0].kind, same[0].key, same[0].scope, same[0].guests, hosts,
                            same[0].start, None if None in ends else max(ends)))
    return out


def _may_collide(h: Holding) -> bool:
    if h.kind == "mac":
        return h.scope is not None
    return h.kind == "disk" and h.writable


def _group_key(h: Holding) -> tuple:
    return (h.kind, h.key, h.scope if h.kind == "mac" else None)


def _overlaps(group: list[Holding]) -> list[Conflict]:
    """Sweep in start order, keeping the holdings not yet ended. Two holdings collide when
    they overlap for some time: the later start is before the first end. A holding that
    ended when it started (a fact in one call, its boot ended at the same instant) was held
    for no time and collides with nothing, whichever of two equal starts comes first."""
    active: list[Holding] = []
    found = []
    for h in group:
        if h.end is not None and h.end <= h.start:
            continue
        active = [a for a in active if a.end is None or a.end > h.start]
        found.extend(_conflict(a, h) for a in active if a.guest != h.guest and _clash(a, h))
        active.append(h)
    return found


def _clash(a: Holding, b: Holding) -> bool:
    return a.kind == "mac" or not (a.shareable and b.shareable)


def _conflict(a: Holding, b: Holding) -> Conflict:
    """``b`` started last, so the overlap starts with it and stops with the first to end."""
    end = b.end if a.end is None else a.end if b.end is None else min(a.end, b.end)
    first, second = sorted((a, b), key=lambda h: h.guest)
    return Conflict(b.kind, b.key, b.scope if b.kind == "mac" else None,
                    (first.guest, second.guest), tuple(dict.fromkeys((*first.hosts,
                                                                       *second.hosts))),
                    b.start, end)

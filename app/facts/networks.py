"""What a network hook's calls say, and for how long (pure): the network hook's events are
stored under the network's UUID (the first <uuid> of its ``<hookData>``), so the facts pass
reads them as one unit per network and this module turns them into fact intervals, each
with its holder:

- the network itself (``network`` NAME, its forward mode and segment) and its static DHCP
  entries (``ip``, source ``dhcp-host``) are held by the network, per host, for as long as it
  runs there: from its first call (``start``) to ``stopped``; an ``updated`` XML that drops a
  DHCP entry ends it, one that adds an entry starts it;
- a port's MAC (and an SR-IOV port's PCI device) is held by the guest that owns the port
  (``<networkport><owner><uuid>``), from ``port-created`` to the ``port-deleted`` of the same
  MAC and owner on that host, or to the network's ``stopped`` there; the pre-5.x
  ``plugged``/``unplugged`` calls name the guest in ``<domain>`` instead. A port whose owner
  was redacted has no holder and is left out; a refused ``port-created`` (outcome not ok)
  created no port.
"""
from __future__ import annotations

from collections.abc import Iterable

from app.facts.intervals import FactInterval

PORT_OPEN = frozenset({"port-created", "plugged"})
PORT_CLOSE = frozenset({"port-deleted", "unplugged"})
NETWORK_LEVEL = frozenset({"network"})


def is_network_level(fact) -> bool:
    """The network's own facts (itself, its DHCP entries), not a guest's port."""
    return fact.kind in NETWORK_LEVEL or (fact.kind == "ip" and fact.get("source") == "dhcp-host")


def network_intervals(network_uuid: str, events: Iterable[dict]) -> list[tuple[str, FactInterval]]:
    """(holder uuid, interval) of one network's events (time order; each with op, host,
    started_at, outcome, event_id and ``facts``: its XML's facts or None)."""
    by_host: dict[str, list[dict]] = {}
    for ev in events:
        by_host.setdefault(ev["host"], []).append(ev)
    out: list[tuple[str, FactInterval]] = []
    for host, evs in by_host.items():
        out += _host_intervals(network_uuid, host, evs)
    return sorted(out, key=lambda hi: (hi[1].start, hi[0], hi[1].fact.kind, hi[1].fact.key))


def _host_intervals(network_uuid: str, host: str, events: list[dict]) -> list:
    out: list = []
    held: dict[tuple, list] = {}     # (kind, key) -> [fact, start, event ids]: network-level
    ports: dict[tuple, list] = {}    # (owner, kind, key) -> [fact, start, event ids]

    def close_network(at, ids_to=None):
        for identity in list(held):
            if ids_to is None or identity not in ids_to:
                fact, start, ids = held.pop(identity)
                out.append((network_uuid, _interval(fact, start, at, host, ids)))

    def close_ports(at, which=None):
        for identity in [i for i in ports if which is None or i in which]:
            fact, start, ids = ports.pop(identity)
            out.append((identity[0], _interval(fact, start, at, host, ids)))

    for ev in events:
        at, facts = ev["started_at"], ev.get("facts")
        if ev["op"] == "stopped":
            close_ports(at)
            close_network(at)
            continue
        if facts is None:
            continue
        level = {(f.kind, f.key): f for f in facts if is_network_level(f)}
        if level:       # every hookData carries the network as it is now
            close_network(at, level)
            for identity, fact in level.items():
                entry = held.setdefault(identity, [fact, at, []])
                entry[0] = fact
                entry[2].append(ev["event_id"])
        owned = [(f.get("owner_uuid"), f) for f in facts if not is_network_level(f)]
        owned = [((owner, f.kind, f.key), f) for owner, f in owned if owner]
        if ev["op"] in PORT_OPEN and ev["outcome"] == "ok":
            for identity, fact in owned:
                entry = ports.setdefault(identity, [fact, at, []])
                entry[0] = fact
                entry[2].append(ev["event_id"])
        elif ev["op"] in PORT_CLOSE:
            which = {identity for identity, _ in owned if identity in ports}
            for identity in which:
                ports[identity][2].append(ev["event_id"])
            close_ports(at, which)
    close_ports(None)
    close_network(None)
    return out


def _interval(fact, start, end, host: str, ids: list) -> FactInterval:
    return FactInterval(fact, start, end, (host,), tuple(i for i in ids if i),
                        "running" if end is None else "ended")

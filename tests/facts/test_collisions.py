"""Collisions: duplicate MACs on one segment, one writable disk held twice. Times are minutes."""
import pytest

from app.facts.collisions import Holding, find_conflicts, holding
from app.facts.intervals import FactInterval
from app.facts.model import make_fact

M = "52:54:00:ab:cd:ef"
NET = "network:prod"


def mac(guest, start, end=None, scope=NET, key=M, host="h1"):
    return Holding("mac", key, guest, (host,), start, end, scope=scope)


def disk(guest, start, end=None, writable=True, shareable=False, key="rbd:rbd/vm-1", host="h1"):
    return Holding("disk", key, guest, (host,), start, end, writable=writable, shareable=shareable)


def _found(holdings):
    return [(c.kind, c.guests, c.start, c.end) for c in find_conflicts(holdings)]


@pytest.mark.parametrize("holdings, expected", [
    # the same MAC on the same network, two guests, overlapping: from the later start
    # until the first end
    ([mac("g1", 0, 10), mac("g2", 5, 20, host="h2")], [("mac", ("g1", "g2"), 5, 10)]),
    # still ongoing: open end
    ([mac("g1", 0), mac("g2", 5)], [("mac", ("g1", "g2"), 5, None)]),
    ([mac("g1", 0), mac("g2", 5, 8)], [("mac", ("g1", "g2"), 5, 8)]),
    # one guest reusing a MAC another held earlier: no overlap, no conflict
    ([mac("g1", 0, 10), mac("g2", 10, 20)], []),
    # the same MAC on different networks is no conflict
    ([mac("g1", 0), mac("g2", 5, scope="network:lab")], []),
    # a MAC whose segment libvirt does not name (user, ethernet) never collides
    ([mac("g1", 0, scope=None), mac("g2", 5, scope=None)], []),
    # one guest on two hosts (a migration) is not a conflict with itself
    ([mac("g1", 0, 10, host="h1"), mac("g1", 8, host="h2")], []),
    # three guests: every overlapping pair
    ([mac("g1", 0, 30), mac("g2", 5, 20), mac("g3", 10, 40)],
     [("mac", ("g1", "g2"), 5, 20), ("mac", ("g1", "g3"), 10, 30),
      ("mac", ("g2", "g3"), 10, 20)]),
    # different MACs never collide
    ([mac("g1", 0), mac("g2", 0, key="52:54:00:ab:cd:ee")], []),
    # two writable, non-shareable holders of one disk
    ([disk("g1", 0, 10), disk("g2", 3, host="h2")], [("disk", ("g1", "g2"), 3, 10)]),
    # one side read-only: not a conflict (nothing is written twice)
    ([disk("g1", 0), disk("g2", 3, writable=False)], []),
    # both <shareable/>: the guests coordinate (a cluster filesystem)
    ([disk("g1", 0, shareable=True), disk("g2", 3, shareable=True)], []),
    # only one side shareable: the other still takes it exclusively
    ([disk("g1", 0, shareable=True), disk("g2", 3)], [("disk", ("g1", "g2"), 3, None)]),
    # one disk, a boot after the other: no overlap
    ([disk("g1", 0, 10), disk("g2", 11)], []),
    # ports, hostdevs, IPs are not checked for collisions
    ([Holding("port", "5907", "g1", ("h1",), 0), Holding("port", "5907", "g2", ("h1",), 0)], []),
])
def test_find_conflicts(holdings, expected):
    assert _found(holdings) == expected


def test_a_conflict_names_both_hosts_and_its_scope():
    (c,) = find_conflicts([mac("g2", 5, host="h2"), mac("g1", 0, host="h1")])
    assert (c.key, c.scope, c.guests, c.hosts) == (M, NET, ("g1", "g2"), ("h1", "h2"))


def test_holding_reads_scope_and_disk_flags_from_the_fact():
    fact = make_fact("disk", "/srv/a.img", writable="yes", shareable="yes")
    h = holding("g1", FactInterval(fact, 0, None, ("h1", "h2"), ("e1",), "running"))
    assert (h.kind, h.key, h.guest, h.hosts, h.writable, h.shareable, h.scope) == \
        ("disk", "/srv/a.img", "g1", ("h1", "h2"), True, True, None)


def test_a_duplicate_mac_appears_and_disappears_from_two_guests_hook_xml():
    """XML -> facts -> intervals -> conflicts: web-01 runs on h1 from 0; a clone with its MAC
    starts on h2 at 5 and is shut down at 9."""
    from app.facts import extract_facts
    from app.facts.intervals import fact_intervals
    from tests.facts.helpers import fixture

    web = frozenset(extract_facts(fixture("qemu-live.xml")))
    clone = frozenset(extract_facts(
        "<domain type='kvm'><name>clone</name><devices><interface type='network'>"
        "<mac address='52:54:00:AB:CD:EF'/><source network='prod'/></interface></devices>"
        "</domain>"))
    timeline = {
        "web-01": [{"host": "h1", "op": "started", "started_at": 0, "outcome": "ok",
                    "facts": web}],
        "clone": [{"host": "h2", "op": op, "started_at": t, "outcome": "ok", "facts": clone}
                  for op, t in (("prepare", 5), ("started", 6), ("release", 9))],
    }
    holdings = [holding(guest, i) for guest, events in timeline.items()
                for i in fact_intervals(events)]
    assert [(c.kind, c.key, c.scope, c.guests, c.hosts, c.start, c.end)
            for c in find_conflicts(holdings)] == [
        ("mac", M, NET, ("clone", "web-01"), ("h2", "h1"), 5, 9)]


@pytest.mark.parametrize("order", [0, 1])
def test_a_holding_of_no_time_collides_with_nothing_in_either_order(order):
    """Held from a call to a boot end at the same instant: no overlap, whichever of two equal
    starts the sweep meets first (the pass reads rows in no fixed order)."""
    pair = [mac("g1", 5, 5), mac("g2", 5)]
    assert _found(pair if order else pair[::-1]) == []
    assert _found([mac("g1", 0), mac("g2", 5, 5)]) == []
    assert _found([mac("g1", 0), mac("g2", 5, 6)]) == [("mac", ("g1", "g2"), 5, 6)]


@pytest.mark.parametrize("order", [0, 1])
def test_two_stays_of_one_guest_overlapping_another_from_one_start_are_one_conflict(order):
    """g1 holds the MAC in a boot a crashed host never released (h1) and in a new boot (h2);
    g2 starts holding it while both are open: one conflict, until the last of them ends."""
    stays = [mac("g1", 0, 30, host="h1"), mac("g1", 2, 12, host="h2")]
    holdings = [*(stays if order else stays[::-1]), mac("g2", 5, 40, host="h3")]
    [c] = find_conflicts(holdings)
    assert (c.guests, c.start, c.end) == (("g1", "g2"), 5, 30)
    assert set(c.hosts) == {"h1", "h2", "h3"}

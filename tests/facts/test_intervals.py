"""Stays (boots stitched across migrations) and when each fact was held. Times are minutes."""
import pytest

from app.facts.intervals import fact_intervals, stitch
from app.facts.model import make_fact

MAC = make_fact("mac", "52:54:00:ab:cd:ef", scope="network:prod")
MAC_LIVE = make_fact("mac", "52:54:00:ab:cd:ef", scope="network:prod", dev="vnet3")
OLD_DISK = make_fact("disk", "/srv/a/web.img", writable="yes")
NEW_DISK = make_fact("disk", "/srv/b/web.img", writable="yes")
PORT = make_fact("port", "5907", graphics="vnc", role="port")


def ev(host, op, t, outcome="ok", facts=None, driver="qemu", event_id=None):
    return {"host": host, "op": op, "started_at": t, "outcome": outcome, "driver": driver,
            "facts": None if facts is None else frozenset(facts),
            "event_id": event_id or "%s-%s-%d" % (host, op, t)}


def boot(host, t0, facts=(MAC,), end=True):
    """prepare, start, started at t0..t0+2; stopped, release at t0+10, t0+11."""
    events = [ev(host, op, t0 + i, facts=facts) for i, op in
              enumerate(("prepare", "start", "started"))]
    if end:
        events += [ev(host, "stopped", t0 + 10, facts=facts), ev(host, "release", t0 + 11)]
    return events


def migration(src_facts=(MAC,), dst_facts=(MAC,), released_on_b=False, outcome="ok"):
    """A runs from 0; at 5 it migrates to B; A's stopped/release follow B's started (when
    B refuses the migration, A just keeps running)."""
    events = boot("A", 0, src_facts, end=False)
    events.append(ev("B", "migrate", 5, outcome, dst_facts))
    if outcome == "ok":
        events += [ev("B", op, t, facts=dst_facts) for op, t in
                   (("prepare", 6), ("start", 7), ("started", 8))]
        events += [ev("A", "stopped", 9, facts=src_facts), ev("A", "release", 10)]
    if released_on_b:
        events += [ev("B", "stopped", 20, facts=dst_facts), ev("B", "release", 21)]
    return sorted(events, key=lambda e: e["started_at"])


@pytest.mark.parametrize("events, expected", [
    # one boot, ended
    (boot("A", 0), [(0, 11, ("A",), "ended")]),
    # still running: open
    (boot("A", 0, end=False), [(0, None, ("A",), "running")]),
    # a migration hands the boot from A to B: one stay, two hosts, open on B
    (migration(), [(0, None, ("A", "B"), "running")]),
    (migration(released_on_b=True), [(0, 21, ("A", "B"), "ended")]),
    # a refused incoming migration: the guest never left A
    (migration(outcome="aborted"), [(0, None, ("A",), "running"), (5, 5, ("B",), "aborted")]),
    # a reboot is two boots
    (boot("A", 0) + boot("A", 20), [(0, 11, ("A",), "ended"), (20, 31, ("A",), "ended")]),
    # libxl: a refused prepare is not followed by stopped/release; the boot ends there
    ([ev("A", "prepare", 0, "aborted", driver="libxl")], [(0, 0, ("A",), "aborted")]),
])
def test_stays(events, expected):
    assert [(s.start, s.end, s.hosts, s.status) for s in stitch(events)] == expected


def _intervals(events):
    return [(i.fact.kind, i.fact.key, i.start, i.end, i.hosts) for i in fact_intervals(events)]


@pytest.mark.parametrize("events, expected", [
    # held from the first XML that has it to the end of the boot
    (boot("A", 0), [("mac", MAC.key, 0, 11, ("A",))]),
    # an autoport port appears at start (the prepare XML says -1)
    ([ev("A", "prepare", 0, facts=[MAC]), ev("A", "start", 1, facts=[MAC, PORT]),
      ev("A", "started", 2, facts=[MAC, PORT]), ev("A", "release", 9)],
     [("mac", MAC.key, 0, 9, ("A",)), ("port", "5907", 1, 9, ("A",))]),
    # migrated: one interval over both hosts, open while running on B
    (migration(), [("mac", MAC.key, 0, None, ("A", "B"))]),
    # the migrate filter moved the disk: the old path ends with A's boot, the new one is B's
    (migration([OLD_DISK], [NEW_DISK]), [("disk", OLD_DISK.key, 0, 10, ("A",)),
                                         ("disk", NEW_DISK.key, 5, None, ("B",))]),
    # an XML of the boot without the fact ends it there
    ([ev("A", "prepare", 0, facts=[MAC, OLD_DISK]), ev("A", "started", 2, facts=[MAC]),
      ev("A", "release", 9)],
     [("disk", OLD_DISK.key, 0, 2, ("A",)), ("mac", MAC.key, 0, 9, ("A",))]),
    # an event without readable XML (None) ends nothing
    ([ev("A", "prepare", 0, facts=[OLD_DISK]), ev("A", "started", 2, facts=None),
      ev("A", "release", 9)], [("disk", OLD_DISK.key, 0, 9, ("A",))]),
    # two boots: two intervals, with the gap between them
    (boot("A", 0) + boot("A", 20), [("mac", MAC.key, 0, 11, ("A",)),
                                    ("mac", MAC.key, 20, 31, ("A",))]),
])
def test_fact_intervals(events, expected):
    assert _intervals(events) == expected


def test_a_fact_keeps_its_latest_attributes_across_one_boot():
    events = [ev("A", "prepare", 0, facts=[MAC]), ev("A", "start", 1, facts=[MAC_LIVE]),
              ev("A", "release", 9)]
    (interval,) = fact_intervals(events)
    assert (interval.start, interval.end, interval.fact) == (0, 9, MAC_LIVE)


def test_an_interval_names_the_events_that_prove_it():
    (interval,) = fact_intervals(migration())
    assert interval.event_ids == ("A-prepare-0", "A-start-1", "A-started-2", "A-stopped-9",
                                  "B-migrate-5", "B-prepare-6", "B-start-7", "B-started-8")


def test_events_need_only_op_host_time_and_outcome():
    events = [{"host": "A", "op": op, "started_at": t, "outcome": "ok"}
              for op, t in (("prepare", 0), ("release", 3))]
    assert [(s.start, s.end) for s in stitch(events)] == [(0, 3)]

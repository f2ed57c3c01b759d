"""The facts pass computes in a read transaction and writes in a short one (facts_pass.run_pass):
what ingest commits between the two is neither lost nor counted twice, and a pass whose queue
rows or cursors changed under it writes nothing and is run again (both databases). The
concurrent writes happen at fixed points of the pass (its ``between`` callback, or inside its
compute phase), not by timing."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.facts.collisions import Segments
from app.models import FactsCursor, FactsPending, HeldFact
from app.services import facts_pass
from app.services import ingest as ingest_mod
from app.services.facts_pass import catch_up, run_pass
from app.timeutil import utcnow
from hookshim.event import GENESIS_HASH
from tests.factories import BASE_TIME, chain_of
from tests.facts.store import TEMPLATE
from tests.facts.test_incremental import (GUESTS, HISTORIES, db, from_scratch,  # noqa: F401
                                          play, setup_hosts, snapshot)

MAC = "52:54:00:00:00:01"


def calls(name: str, minute: int, ops, body: str, extra: str = "-") -> list[dict]:
    at = BASE_TIME + timedelta(minutes=minute)
    return [{"op": op, "subop": "end" if op in ("stopped", "release") else "begin",
             "object": name, "domain_uuid": GUESTS[name], "driver": "qemu",
             "extra": extra if op in ("stopped", "release") else "-", "xml": body,
             "outcome": "ok", "at": at + timedelta(seconds=i)} for i, op in enumerate(ops)]


class Host:
    """One host's hash chain, ingested batch by batch through the ingest service."""

    def __init__(self, db, host_id: int, name: str):
        self.db, self.id, self.name, self.seq, self.prev = db, host_id, name, 1, GENESIS_HASH

    def send(self, specs: list[dict]) -> list[dict]:
        events = chain_of(self.name, specs, self.seq, self.prev)
        ingest_mod.ingest(self.db, self.id, events)
        self.seq, self.prev = self.seq + len(events), events[-1]["hash"]
        return events


def pending(db) -> list[tuple[int, str]]:
    with db.session() as s:
        return sorted(s.execute(select(FactsPending.id, FactsPending.domain_uuid)).all())


def fleet(db) -> dict[str, Host]:
    return {name: Host(db, host_id, name) for name, host_id in setup_hosts(db).items()}


def guest(name: str, mac: str) -> str:
    return TEMPLATE.format(name=name, uuid=GUESTS[name], mac=mac, network="default",
                           disk=f"/srv/{name}.qcow2", memory_mib=1024, vcpus=2, vnc=5901)


def test_an_ingest_between_compute_and_write_is_neither_lost_nor_counted_twice(db):
    hosts, body = fleet(db), {"g1": guest("g1", MAC), "g2": guest("g2", MAC)}
    hosts["h0"].send(calls("g1", 0, ("prepare", "start", "started"), body["g1"]))
    consumed = pending(db)
    late = []

    def ingest_meanwhile():     # after the pass read, before it writes
        late.extend(hosts["h0"].send(calls("g1", 10, ("stopped", "release"), body["g1"],
                                           "shutdown")))
        late.extend(hosts["h1"].send(calls("g2", 5, ("prepare", "start", "started"),
                                           body["g2"])))
    result = run_pass(db, between=ingest_meanwhile)
    assert (result.guests, result.conflicts) == (1, 0)
    left = pending(db)
    # the pass deleted exactly the queue rows it read; the later batches' rows are queued
    assert not set(consumed) & set(left)
    assert {u for _, u in left} == {GUESTS["g1"], GUESTS["g2"]}
    # what it wrote is what it read: g1 booted and still running, not the shutdown
    written = snapshot(db)
    assert written["held"] and all(h[0] == GUESTS["g1"] and h[5] is None
                                   for h in written["held"])
    late_ids = {e["event_id"] for e in late}
    assert not late_ids & {i for h in written["held"] for i in h[8]}
    catch_up(db)
    caught_up = snapshot(db)
    # the late events are in the tables (not lost), once each (equal to a recompute)
    assert late_ids & {i for h in caught_up["held"] for i in h[8]}
    assert any(h[0] == GUESTS["g1"] and h[5] is not None for h in caught_up["held"])
    assert caught_up["conflicts"], "g1 and g2 held one MAC at once"
    assert caught_up == from_scratch(db)


def test_an_ingest_while_the_pass_computes_does_not_wait_for_it(db, monkeypatch):
    """On SQLite the compute phase holds no write lock: an ingest in the middle of it (same
    thread, another connection) commits at once instead of waiting for the pass to end."""
    hosts, body = fleet(db), {g: guest(g, "52:54:00:00:00:0%d" % i)
                              for i, g in enumerate(GUESTS, 1)}
    hosts["h0"].send(calls("g1", 0, ("prepare", "start", "started"), body["g1"]))
    real, late = facts_pass._held_rows, []

    def held_rows(*args, **kwargs):
        if not late:
            late.extend(hosts["h0"].send(calls("g1", 10, ("stopped", "release"), body["g1"],
                                               "shutdown")))
        return real(*args, **kwargs)
    monkeypatch.setattr(facts_pass, "_held_rows", held_rows)
    assert run_pass(db).guests == 1
    assert late and [u for _, u in pending(db)] == [GUESTS["g1"]]
    catch_up(db)
    assert snapshot(db) == from_scratch(db)


def another_pass(db) -> None:
    """A pass that does not share this process's lock (another version, another machine's
    process on PostgreSQL without the advisory lock): compute and write at once."""
    with db.session(write=True) as s:
        plan = facts_pass._plan(s, 50, utcnow(), Segments())
        facts_pass._apply(s, plan)


@pytest.mark.parametrize("change", ["queue rows taken", "cursor moved"])
def test_a_pass_whose_queue_or_cursors_changed_writes_nothing(db, change):
    hosts, body = fleet(db), {g: guest(g, "52:54:00:00:00:0%d" % i)
                              for i, g in enumerate(GUESTS, 1)}
    hosts["h0"].send(calls("g1", 0, ("prepare", "start", "started"), body["g1"]))
    catch_up(db)        # g1 has a cursor now
    hosts["h0"].send(calls("g1", 10, ("stopped", "release"), body["g1"], "shutdown"))
    hosts["h1"].send(calls("g2", 5, ("prepare", "start", "started"), body["g2"]))
    before = snapshot(db)

    def meanwhile():
        if change == "queue rows taken":
            another_pass(db)
        else:
            with db.session(write=True) as s:
                s.execute(update(FactsCursor).where(FactsCursor.domain_uuid == GUESTS["g1"])
                          .values(quiet=[]))
    after_meanwhile = []

    def hook():
        meanwhile()
        after_meanwhile.append(snapshot(db))
    result = run_pass(db, between=hook)
    assert (result.guests, result.conflicts, result.signals) == (0, 1, [])
    assert snapshot(db) == after_meanwhile[0], "the pass wrote over what changed"
    if change == "cursor moved":
        assert snapshot(db) == before and len(pending(db)) == 2
    assert catch_up(db).conflicts == 0
    assert not pending(db)
    assert snapshot(db) == from_scratch(db)


def test_catch_up_runs_a_conflicted_pass_again(db):
    hosts, body = fleet(db), {g: guest(g, "52:54:00:00:00:0%d" % i)
                              for i, g in enumerate(GUESTS, 1)}
    hosts["h0"].send(calls("g1", 0, ("prepare", "start", "started"), body["g1"]))
    real, runs = facts_pass.run_pass, []

    def first_conflicts(db_, max_guests, segments):
        runs.append(1)
        if len(runs) == 1:
            def cursor_moves():
                with db_.session(write=True) as s:
                    s.add(FactsCursor(domain_uuid=GUESTS["g1"], quiet=[]))
            return real(db_, max_guests, segments, between=cursor_moves)
        return real(db_, max_guests, segments)
    facts_pass.run_pass = first_conflicts
    try:
        result = catch_up(db)
    finally:
        facts_pass.run_pass = real
    assert (result.conflicts, result.guests) == (1, 1) and not pending(db)
    with db.session() as s:
        assert s.scalars(select(HeldFact.domain_uuid)).all()
    assert snapshot(db) == from_scratch(db)


@pytest.mark.parametrize("seed", range(max(6, HISTORIES // 2)))
def test_random_histories_with_ingest_between_the_phases(db, seed):
    """test_incremental's random fleets, where some passes have the next batch ingested
    between their compute and their write (6 per database; HOOKAUDIT_FACTS_HISTORIES=N: N/2)."""
    played = play(db, seed, steps=60 if seed % 2 else 150, between=True)
    assert played["between"], "no batch came between the phases: the test tests nothing"
    assert played["incremental"] == from_scratch(db)


def test_deleting_every_queue_row_of_the_guests_is_caught(db, monkeypatch):
    """The comparison has teeth: a write that deletes all queue rows of its guests (also
    those of a batch ingested after the pass read) loses that batch's facts."""
    real = facts_pass._delete_ids

    def delete_ids(s, model, ids):
        if model is FactsPending and ids:
            guests = set(s.scalars(select(FactsPending.domain_uuid)
                                   .where(FactsPending.id.in_(ids))))
            ids = list(s.scalars(select(FactsPending.id)
                                 .where(FactsPending.domain_uuid.in_(guests))))
        return real(s, model, ids)
    monkeypatch.setattr(facts_pass, "_delete_ids", delete_ids)
    hosts, body = fleet(db), {g: guest(g, "52:54:00:00:00:0%d" % i)
                              for i, g in enumerate(GUESTS, 1)}
    hosts["h0"].send(calls("g1", 0, ("prepare", "start", "started"), body["g1"]))
    run_pass(db, between=lambda: hosts["h0"].send(
        calls("g1", 10, ("stopped", "release"), body["g1"], "shutdown")))
    catch_up(db)
    monkeypatch.setattr(facts_pass, "_delete_ids", real)
    assert snapshot(db) != from_scratch(db)

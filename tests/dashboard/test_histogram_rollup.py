"""The histograms' rollup (per half hour, and per three hours for long ranges) answers exactly
what counting the events rows answers: after ingest, idempotent re-sends, clock-skewed events,
retention, a rebuild, and the 0011 and 0012 migrations."""
import itertools
import random
import zlib
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select

from app.db import Database
from app.migrate import upgrade
from app.models import Event, Host, XmlBlob
from app.schemas_query import EventFilters
from app.services import accounts, histogram_rollup, retention
from app.services.histogram import histogram, outcome_totals, totals_of
from app.services.ingest import _event_row
from app.services.ingest_validate import prepare
from app.timeutil import utcnow
from tests.factories import chain_of, post_events

DRIVERS = ("qemu", "libxl", "lxc")
OPS = ("prepare", "start", "started", "stopped", "release", "migrate")
OUTCOMES = ("ok", "ok", "ok", "aborted", "killed", "timed_out", "failed_ignored")
SPAN = timedelta(days=3)


def _specs(rng: random.Random, start: datetime, n: int) -> list[dict]:
    """n calls at random times of start..start+SPAN, some exactly on an hour, a half hour or
    a 3-hour period's start, or a microsecond before one, a few with a clock far off (stored
    at their receive time, i.e. now), random driver/op/outcome."""
    specs = []
    for i in range(n):
        at = start + timedelta(seconds=rng.randrange(int(SPAN.total_seconds())),
                               microseconds=rng.randrange(1_000_000))
        if i % 17 == 0:
            at = at.replace(minute=0, second=0, microsecond=0)   # on an hour's edge
        if i % 19 == 0:
            at = at.replace(minute=30, second=0, microsecond=0)  # on a half hour's edge
        if i % 23 == 0:
            at = at.replace(minute=29, second=59, microsecond=999999)   # just before it
        if i % 29 == 0:
            at = at.replace(hour=at.hour // 3 * 3, minute=0, second=0, microsecond=0)
        if i % 31 == 0:       # the last microsecond of a 3-hour slot
            at = at.replace(hour=at.hour // 3 * 3 + 2, minute=59, second=59,
                            microsecond=999999)
        if i % 41 == 0:
            at = datetime(2099, 1, 1) + timedelta(minutes=i)       # a clock far ahead
        specs.append({"at": at, "driver": rng.choice(DRIVERS), "op": rng.choice(OPS),
                      "outcome": rng.choice(OUTCOMES), "object": f"g{i % 5}"})
    return sorted(specs, key=lambda s: s["at"])


def _post(client, host, events, size=150):
    for k in range(0, len(events), size):
        r = post_events(client, host, events[k:k + size])
        assert r.status_code == 200, r.text


LEVELS = histogram_rollup.LEVELS      # half hours, then 3 hours


def _rollup_rows(db, level=histogram_rollup.FINE) -> Counter:
    t = level.table.c
    with db.session() as s:
        return Counter({tuple(r[:5]): r[5] for r in s.execute(select(
            t.slot, t.host_id, t.driver, t.op, t.outcome, t.calls))})


def _counted_rows(db, level=histogram_rollup.FINE) -> Counter:
    """A level of the rollup as it must be: counted here, in Python, from every stored
    event."""
    with db.session() as s:
        return Counter((histogram_rollup.slot_of(at, level.length), h, d, o, out)
                       for at, h, d, o, out in
                       s.execute(select(Event.started_at, Event.host_id, Event.driver,
                                        Event.op, Event.outcome)))


def _assert_levels_exact(db) -> None:
    """Both levels equal the events counted in Python, and no row is left at zero."""
    for level in LEVELS:
        rows = _rollup_rows(db, level)
        assert rows == _counted_rows(db, level), level.table.name
        assert min(rows.values(), default=1) > 0, level.table.name


# 30-min, 1-hour and 2-hour buckets (fine level only), then 3-, 6- and 12-hour ones (the
# 7- and 30-day ranges' steps: the coarse level inside, half hours at the edges)
LENGTHS = [timedelta(hours=5), timedelta(days=1, minutes=7), timedelta(days=2, hours=3),
           SPAN + timedelta(hours=20), timedelta(days=7), timedelta(days=12, hours=5),
           timedelta(days=30)]


def _random_filters(rng: random.Random, lo: datetime, hi: datetime) -> dict:
    length = rng.choice(LENGTHS)
    if rng.random() < 0.5:                  # starts in lo..hi
        since = lo + (hi - lo) * rng.random()
        until = since + length
    else:                                   # ends in lo..hi (a long range's start is empty)
        until = lo + (hi - lo) * rng.random()
        since = until - length
    kw = {"since": since.replace(microsecond=rng.choice([0, 123456])), "until": until}
    for name, values in (("host", ["host-a", "host-b", "host-*", "nobody"]),
                         ("driver", DRIVERS), ("op", OPS), ("outcome", OUTCOMES[2:])):
        if rng.random() < 0.35:
            kw[name] = rng.sample(values, rng.randint(1, 2))
    if rng.random() < 0.1:
        kw["guest"] = ["g1"]                      # not in the rollup: rows counted
    return kw


def _assert_same_answers(db, rng, lo, hi, cases=60) -> Counter:
    """Random ranges and filters: rollup and row counting agree; returns how many cases used
    it, per bucket step (seconds), and under "coarse" how many used its 3-hour level."""
    used = Counter()
    with db.session() as s:
        for _ in range(cases):
            f = EventFilters(**_random_filters(rng, lo, hi))
            aborts = rng.random() < 0.3
            fast = histogram(s, f, aborts=aborts)
            slow = histogram(s, f, aborts=aborts, use_rollup=False)
            assert slow["slots_from_rollup"] == slow["slots_from_coarse"] == 0
            assert fast["buckets"] == slow["buckets"], (f, aborts)
            used[fast["step_seconds"]] += fast["slots_from_rollup"] > 0
            used["coarse"] += fast["slots_from_coarse"] > 0
            assert 6 * fast["slots_from_coarse"] <= fast["slots_from_rollup"]
            assert not (aborts and fast["slots_from_coarse"])    # sparse: half hours only
            # the overview's counts by outcome, read the same way, or summed from the
            # page's histogram of the range (totals_of)
            counted = outcome_totals(s, f.since, f.until, use_rollup=False)
            assert outcome_totals(s, f.since, f.until) == counted
            plain = histogram(s, EventFilters(since=f.since, until=f.until))
            assert totals_of(plain) == counted
    return used


@pytest.fixture
def fleet(client, host_a, host_b):
    """Two hosts' calls over the three days up to now (plus clock-skewed ones at now)."""
    rng = random.Random(15)
    start = utcnow().replace(microsecond=0) - SPAN
    a = chain_of("host-a", _specs(rng, start, 400))
    b = chain_of("host-b", _specs(rng, start, 250))
    _post(client, host_a, a)
    _post(client, host_b, b)
    return {"a": a, "b": b, "start": start}


def test_rollup_counts_every_stored_event_after_ingest(app, fleet):
    db = app.state.db
    _assert_levels_exact(db)
    fine, coarse = (_rollup_rows(db, level) for level in LEVELS)
    assert sum(fine.values()) == sum(coarse.values()) == len(fleet["a"]) + len(fleet["b"])
    assert len(coarse) < len(fine)
    with db.session() as s:
        skewed = s.scalar(select(Event.started_at).where(Event.clock_skew.is_(True)).limit(1))
    assert skewed is not None and skewed > fleet["start"] + SPAN - timedelta(minutes=5)


def test_rollup_answers_equal_row_counts_over_random_ranges(app, fleet):
    lo = fleet["start"] - timedelta(hours=6)
    used = _assert_same_answers(app.state.db, random.Random(1), lo, utcnow())
    assert used.total() - used["coarse"] >= 10    # most cases read whole slots from it
    assert used[1800] >= 3        # 24-hour ranges too (half-hour buckets)
    # 7- and 30-day ranges (3- and 12-hour buckets) read whole 3-hour slots
    assert used["coarse"] >= 10 and used[3 * 3600] >= 2 and used[12 * 3600] >= 2


def test_resent_batches_are_not_counted_twice(app, client, host_a, fleet):
    before = [_rollup_rows(app.state.db, level) for level in LEVELS]
    _post(client, host_a, fleet["a"][:200], size=70)          # idempotent re-send
    assert [_rollup_rows(app.state.db, level) for level in LEVELS] == before
    _assert_levels_exact(app.state.db)


def test_retention_uncounts_the_pruned_events(app, settings, fleet):
    db = app.state.db
    now = utcnow()
    plan = retention.Plan(cutoff=now - timedelta(days=2), abort_cutoff=now - timedelta(days=2.5),
                          secret=settings.secret_key)
    run = retention.prune(db, plan)
    assert run["events_deleted"] > 100 and run["hosts"]["host-a"]["kept_aborts"] > 0
    _assert_levels_exact(db)                            # emptied slots lose their row
    # the cutoffs fall inside 3-hour slots: rows partly uncounted, not dropped
    cut = histogram_rollup.slot_of(plan.cutoff, histogram_rollup.COARSE.length)
    assert any(k[0] == cut for k in _rollup_rows(db, histogram_rollup.COARSE))
    lo = fleet["start"] - timedelta(hours=6)
    used = _assert_same_answers(db, random.Random(2), lo, utcnow())
    assert used.total() - used["coarse"] >= 10 and used["coarse"] >= 10


def test_rebuild_recounts_what_ingest_kept(app, fleet):
    db = app.state.db
    kept = [_rollup_rows(db, level) for level in LEVELS]
    with db.session(write=True) as s:
        histogram_rollup.rebuild(s)
    assert [_rollup_rows(db, level) for level in LEVELS] == kept


@pytest.mark.parametrize("when, slot", [
    (datetime(1970, 1, 1, 0, 29, 59, 999999), 0),
    (datetime(1970, 1, 1, 0, 30), 1),
    (datetime(1970, 1, 1, 1), 2),
    (datetime(1969, 12, 31, 23, 30, 0, 1), -1),
    (datetime(1969, 12, 31, 23, 29, 59), -2),
])
def test_slot_of_floors(when, slot):
    assert histogram_rollup.slot_of(when) == slot


@pytest.mark.parametrize("when, slot", [
    (datetime(1970, 1, 1, 2, 59, 59, 999999), 0),
    (datetime(1970, 1, 1, 3), 1),
    (datetime(1969, 12, 31, 21), -1),
    (datetime(1969, 12, 31, 20, 59, 59, 999999), -2),
])
def test_coarse_slot_of_floors(when, slot):
    assert histogram_rollup.slot_of(when, histogram_rollup.COARSE.length) == slot


PREVIOUS = "0010_facts_since"   # the revision 0011_histogram_rollup follows (0012: 0011)


def _store_at_previous_revision(db: Database, host: str, events: list[dict]) -> None:
    """What ingest at 0009 wrote: the host, XML bodies and events rows (no rollup)."""
    with db.session(write=True) as s:
        accounts.add_host(s, host)
        host_id = s.scalar(select(Host.id).where(Host.name == host))
        now = utcnow()
        prepared = [prepare(e) for e in events]
        bodies = {p.xml_sha: p.raw["xml"].encode() for p in prepared}
        s.execute(insert(XmlBlob), [{"sha256": sha, "size": len(data), "created_at": now,
                                     "data": zlib.compress(data)} for sha, data in bodies.items()])
        s.execute(insert(Event), [_event_row(p, host_id, True, now) for p in prepared])


def test_migrations_backfill_the_rollup_from_stored_events(db_url):
    """0011 counts the half hours from the events, 0012 the 3-hour level from those."""
    upgrade(db_url, PREVIOUS)
    db = Database(db_url)
    rng = random.Random(10)
    start = datetime(2026, 11, 20, 9, 30)
    before_1970 = itertools.cycle([datetime(1969, 12, 31, 23, 29, 59),
                                   datetime(1969, 12, 31, 23, 30),
                                   datetime(1969, 12, 31, 20, 59, 59),
                                   datetime(1969, 12, 31, 21)])
    specs = [dict(s, at=s["at"] if s["at"].year < 2099 else next(before_1970))
             for s in _specs(rng, start, 200)]        # four before 1970 too
    _store_at_previous_revision(db, "host-a", chain_of("host-a", specs))
    upgrade(db_url, "0011_histogram_rollup")
    try:
        assert _rollup_rows(db) == _counted_rows(db) and len(_rollup_rows(db)) > 50
        upgrade(db_url)
        _assert_levels_exact(db)
        coarse = _rollup_rows(db, histogram_rollup.COARSE)
        assert {k[0] for k in coarse} >= {-1, -2}         # floored before 1970
        used = _assert_same_answers(db, rng, start - timedelta(hours=3), start + SPAN)
        assert used.total() - used["coarse"] >= 10 and used["coarse"] >= 10
    finally:
        db.dispose()


def test_db_rebuild_histogram_recounts_events_stored_behind_its_back(app, db_url, fleet,
                                                                     capsys):
    from app.cli import main
    db = app.state.db
    with db.session(write=True) as s:
        host_id = s.scalar(select(Host.id).where(Host.name == "host-a"))
        extra = chain_of("host-a", _specs(random.Random(3), fleet["start"], 30), 10_000)
        prepared = [prepare(e) for e in extra]
        s.execute(insert(Event), [_event_row(p, host_id, True, utcnow()) for p in prepared])
    for level in LEVELS:                       # a restore that bypassed ingest
        assert _rollup_rows(db, level) != _counted_rows(db, level)
    assert main(["--database-url", db_url, "db", "rebuild-histogram"]) == 0
    assert "rollup recounted" in capsys.readouterr().out
    _assert_levels_exact(db)

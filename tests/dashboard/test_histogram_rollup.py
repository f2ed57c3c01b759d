"""The histograms' per-half-hour rollup answers exactly what counting the events rows answers:
after ingest, idempotent re-sends, clock-skewed events, retention, and the 0011 migration."""
import itertools
import random
import zlib
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, select

from app.db import Database
from app.migrate import upgrade
from app.models import Event, HistogramSlot, Host, XmlBlob
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
    """n calls at random times of start..start+SPAN, some exactly on an hour or a half hour
    or a microsecond before one, a few with a clock far off (stored at their receive time,
    i.e. now), random driver/op/outcome."""
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
        if i % 41 == 0:
            at = datetime(2099, 1, 1) + timedelta(minutes=i)       # a clock far ahead
        specs.append({"at": at, "driver": rng.choice(DRIVERS), "op": rng.choice(OPS),
                      "outcome": rng.choice(OUTCOMES), "object": f"g{i % 5}"})
    return sorted(specs, key=lambda s: s["at"])


def _post(client, host, events, size=150):
    for k in range(0, len(events), size):
        r = post_events(client, host, events[k:k + size])
        assert r.status_code == 200, r.text


def _rollup_rows(db) -> Counter:
    with db.session() as s:
        return Counter({tuple(r[:5]): r[5] for r in s.execute(select(
            HistogramSlot.slot, HistogramSlot.host_id, HistogramSlot.driver, HistogramSlot.op,
            HistogramSlot.outcome, HistogramSlot.calls))})


def _counted_rows(db) -> Counter:
    """The rollup as it must be: counted here, in Python, from every stored event."""
    with db.session() as s:
        return Counter((histogram_rollup.slot_of(at), h, d, o, out) for at, h, d, o, out in
                       s.execute(select(Event.started_at, Event.host_id, Event.driver,
                                        Event.op, Event.outcome)))


def _random_filters(rng: random.Random, lo: datetime, hi: datetime) -> dict:
    since = lo + (hi - lo) * rng.random()
    until = since + rng.choice([timedelta(hours=5), timedelta(days=1, minutes=7),
                                timedelta(days=2, hours=3), SPAN + timedelta(hours=20)])
    kw = {"since": since.replace(microsecond=rng.choice([0, 123456])), "until": until}
    for name, values in (("host", ["host-a", "host-b", "host-*", "nobody"]),
                         ("driver", DRIVERS), ("op", OPS), ("outcome", OUTCOMES[2:])):
        if rng.random() < 0.35:
            kw[name] = rng.sample(values, rng.randint(1, 2))
    if rng.random() < 0.1:
        kw["guest"] = ["g1"]                      # not in the rollup: rows counted
    return kw


def _assert_same_answers(db, rng, lo, hi, cases=40) -> Counter:
    """Random ranges and filters: rollup and row counting agree; returns how many cases used
    it, per bucket step (seconds)."""
    used = Counter()
    with db.session() as s:
        for _ in range(cases):
            f = EventFilters(**_random_filters(rng, lo, hi))
            aborts = rng.random() < 0.3
            fast = histogram(s, f, aborts=aborts)
            slow = histogram(s, f, aborts=aborts, use_rollup=False)
            assert slow["slots_from_rollup"] == 0
            assert fast["buckets"] == slow["buckets"], (f, aborts)
            used[fast["step_seconds"]] += fast["slots_from_rollup"] > 0
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
    assert _rollup_rows(db) == _counted_rows(db)
    with db.session() as s:
        skewed = s.scalar(select(Event.started_at).where(Event.clock_skew.is_(True)).limit(1))
    assert skewed is not None and skewed > fleet["start"] + SPAN - timedelta(minutes=5)


def test_rollup_answers_equal_row_counts_over_random_ranges(app, fleet):
    lo = fleet["start"] - timedelta(hours=6)
    used = _assert_same_answers(app.state.db, random.Random(1), lo, utcnow())
    assert used.total() >= 10     # most cases read whole slots from the rollup
    assert used[1800] >= 3        # 24-hour ranges too (half-hour buckets)


def test_resent_batches_are_not_counted_twice(app, client, host_a, fleet):
    before = _rollup_rows(app.state.db)
    _post(client, host_a, fleet["a"][:200], size=70)          # idempotent re-send
    assert _rollup_rows(app.state.db) == before == _counted_rows(app.state.db)


def test_retention_uncounts_the_pruned_events(app, settings, fleet):
    db = app.state.db
    now = utcnow()
    plan = retention.Plan(cutoff=now - timedelta(days=2), abort_cutoff=now - timedelta(days=2.5),
                          secret=settings.secret_key)
    run = retention.prune(db, plan)
    assert run["events_deleted"] > 100 and run["hosts"]["host-a"]["kept_aborts"] > 0
    assert _rollup_rows(db) == _counted_rows(db)
    assert min(_rollup_rows(db).values()) > 0           # emptied slots lose their row
    lo = fleet["start"] - timedelta(hours=6)
    assert _assert_same_answers(db, random.Random(2), lo, utcnow()).total() >= 10


def test_rebuild_recounts_what_ingest_kept(app, fleet):
    db = app.state.db
    kept = _rollup_rows(db)
    with db.session(write=True) as s:
        histogram_rollup.rebuild(s)
    assert _rollup_rows(db) == kept


@pytest.mark.parametrize("when, slot", [
    (datetime(1970, 1, 1, 0, 29, 59, 999999), 0),
    (datetime(1970, 1, 1, 0, 30), 1),
    (datetime(1970, 1, 1, 1), 2),
    (datetime(1969, 12, 31, 23, 30, 0, 1), -1),
    (datetime(1969, 12, 31, 23, 29, 59), -2),
])
def test_slot_of_floors(when, slot):
    assert histogram_rollup.slot_of(when) == slot


PREVIOUS = "0010_facts_since"   # the revision 0011_histogram_rollup follows


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


def test_migration_backfills_the_rollup_from_stored_events(db_url):
    upgrade(db_url, PREVIOUS)
    db = Database(db_url)
    rng = random.Random(10)
    start = datetime(2026, 11, 20, 9, 30)
    before_1970 = itertools.cycle([datetime(1969, 12, 31, 23, 29, 59),
                                   datetime(1969, 12, 31, 23, 30)])
    specs = [dict(s, at=s["at"] if s["at"].year < 2099 else next(before_1970))
             for s in _specs(rng, start, 120)]                # two before 1970 too
    _store_at_previous_revision(db, "host-a", chain_of("host-a", specs))
    upgrade(db_url)
    try:
        assert _rollup_rows(db) == _counted_rows(db) and len(_rollup_rows(db)) > 50
        used = _assert_same_answers(db, rng, start - timedelta(hours=3), start + SPAN)
        assert used.total() >= 10
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
    assert _rollup_rows(db) != _counted_rows(db)        # a restore that bypassed ingest
    assert main(["--database-url", db_url, "db", "rebuild-histogram"]) == 0
    assert "rollup recounted" in capsys.readouterr().out
    assert _rollup_rows(db) == _counted_rows(db)

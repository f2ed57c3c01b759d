"""The histogram: bucketed counts computed in the database equal the rows they count."""
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from app.schemas_query import EventFilters
from app.services.histogram import grid, histogram
from app.timeutil import parse_iso
from tests.factories import chain_of, post_events

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
OUTCOMES = ["ok", "aborted", "ok", "killed", "ok", "timed_out", "failed_ignored", "ok"]


def _specs(n: int, step: timedelta) -> list[dict]:
    """n calls ``step`` apart with a mix of outcomes (one of them at a fractional second)."""
    return [{"at": T0 + i * step + timedelta(microseconds=250_000 * (i % 3)),
             "outcome": OUTCOMES[i % len(OUTCOMES)], "object": f"g{i % 4}"} for i in range(n)]


@pytest.fixture
def stored(client, host_a, host_b):
    a = chain_of("host-a", _specs(120, timedelta(seconds=47)))
    b = chain_of("host-b", _specs(30, timedelta(minutes=3)))
    assert post_events(client, host_a, a).status_code == 200
    assert post_events(client, host_b, b).status_code == 200
    return a + b


def _rows_per_bucket(events, since, until, step_s, outcome_filter=None):
    """What the histogram must say, counted here in Python from the events themselves."""
    t0, step, n = grid(since, until)
    assert int(step.total_seconds()) == step_s
    out = Counter()
    for ev in events:
        at = parse_iso(ev["started_at"])
        if since <= at < until and (outcome_filter is None or ev["outcome"] in outcome_filter):
            out[((at - t0) // step, ev["outcome"])] += 1
    return out


def _as_counter(h):
    out = Counter()
    for i, b in enumerate(h["buckets"]):
        for outcome, n in b["counts"].items():
            if n:
                out[(i, outcome)] += n
    return out


@pytest.mark.parametrize("span", [timedelta(minutes=15), timedelta(hours=2), timedelta(days=1)])
def test_histogram_counts_equal_the_rows(app, stored, span):
    since = datetime(2026, 11, 25, 12, 7, 13)     # not on a bucket edge
    until = since + span
    with app.state.db.session() as s:
        h = histogram(s, EventFilters(since=since, until=until))
    expected = _rows_per_bucket(stored, since, until, h["step_seconds"])
    assert _as_counter(h) == expected
    assert h["total"] == sum(expected.values()) > 0
    assert h["buckets"][0]["start"] == "2026-11-25T12:07:13.000000Z"
    assert h["buckets"][-1]["end"] == until.isoformat(timespec="microseconds") + "Z"


def test_histogram_follows_the_filters_and_the_aborts_scope(app, stored):
    since, until = datetime(2026, 11, 25, 11), datetime(2026, 11, 25, 14)
    with app.state.db.session() as s:
        host_b = histogram(s, EventFilters(since=since, until=until, host=["host-b"]))
        aborts = histogram(s, EventFilters(since=since, until=until), aborts=True)
    assert host_b["total"] == 30
    expected = _rows_per_bucket(stored, since, until, aborts["step_seconds"],
                                {"aborted", "killed", "timed_out"})
    assert _as_counter(aborts) == expected and aborts["total"] == sum(expected.values())


def test_histogram_buckets_are_contiguous_and_cover_the_range(app, stored):
    since, until = datetime(2026, 11, 25, 12), datetime(2026, 11, 25, 13, 30)
    with app.state.db.session() as s:
        h = histogram(s, EventFilters(since=since, until=until))
    starts = [b["start"] for b in h["buckets"]]
    ends = [b["end"] for b in h["buckets"]]
    assert starts[1:] == ends[:-1] and len(h["buckets"]) <= 81
    assert h["step_seconds"] == 120          # 90 min: 45 two-minute buckets


def test_histogram_api_takes_relative_times_and_the_filters(viewer, stored):
    r = viewer.client.get("/api/v1/histogram", params={"since": "2026-11-25T11:00:00Z",
                                                       "until": "2026-11-25T14:00:00Z",
                                                       "scope": "aborts", "host": "host-a"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["aborts_only"] and data["total"] == sum(
        1 for e in stored if e["host"] == "host-a" and e["outcome"] in ("aborted", "killed", "timed_out"))
    recent = viewer.client.get("/api/v1/histogram?since=-15m&until=now").json()
    assert recent["total"] == 0 and recent["step_seconds"] <= 30


def test_histogram_api_names_a_bad_time(viewer):
    r = viewer.client.get("/api/v1/histogram?since=yesterday")
    assert r.status_code == 422
    err = r.json()["error"]
    assert [d["field"] for d in err["details"]] == ["since"] and "yesterday" in err["details"][0]["message"]


def test_counting_keeps_the_hosts_join_only_when_a_filter_needs_it(app, stored):
    """dash1's host globs may filter on hosts.name: the count must not become a cross join."""
    from app.models import Event, Host
    from app.services.events import base_query
    from app.services.histogram import _counting

    with app.state.db.session() as s:
        by_name = _counting(base_query(s, EventFilters()).where(Host.name == "host-b"), Event.outcome)
        everything = _counting(base_query(s, EventFilters()), Event.outcome)
        assert sum(n for _, n in s.execute(by_name.group_by(Event.outcome))) == 30
        assert sum(n for _, n in s.execute(everything.group_by(Event.outcome))) == 150
        assert "JOIN" not in str(everything)

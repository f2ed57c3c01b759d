"""app.timerange: one parser for every since/until of the API, the pages and the CLI."""
from datetime import datetime, timedelta

import pytest

from app.timerange import bucket_step, floor_to, parse_bound, preset_of

NOW = datetime(2026, 12, 7, 15, 30, 0, 123456)


@pytest.mark.parametrize("text, expected", [
    ("now", NOW),                                                       # the anchor itself
    ("NOW", NOW),                                                       # any case
    ("-15m", NOW - timedelta(minutes=15)),                              # minutes
    ("-24h", NOW - timedelta(hours=24)),                                # hours
    ("-7d", NOW - timedelta(days=7)),                                   # days
    ("-90s", NOW - timedelta(seconds=90)),                              # seconds
    ("-2w", NOW - timedelta(weeks=2)),                                  # weeks
    (" -1h ", NOW - timedelta(hours=1)),                                # stray spaces
    ("2026-11-25T18:13:46.5Z", datetime(2026, 11, 25, 18, 13, 46, 500000)),  # the wire form
    ("2026-11-25T20:13:46+02:00", datetime(2026, 11, 25, 18, 13, 46)),  # an offset -> UTC
    ("2026-11-25T18:13", datetime(2026, 11, 25, 18, 13)),               # datetime-local: UTC
    ("2026-11-25", datetime(2026, 11, 25)),                             # a day: midnight UTC
])
def test_parse_bound_reads_every_form(text, expected):
    assert parse_bound(text, NOW) == expected


@pytest.mark.parametrize("text", [
    "yesterday",      # words other than now
    "-24",            # no unit
    "24h",            # relative times look back: the minus is required
    "-1y",            # no such unit
    "-9999999d",      # too many digits
    "-5000w",         # more than ten years back
    "",               # nothing
])
def test_parse_bound_refuses_what_it_cannot_read(text):
    with pytest.raises(ValueError):
        parse_bound(text, NOW)


@pytest.mark.parametrize("since, until, label", [
    (None, None, "all"),          # no bound: everything
    ("-24h", None, "24h"),        # a preset
    ("-15m", "now", "15m"),       # until now is the same preset
    ("-24h", "-1h", "custom"),    # an until other than now
    ("2026-11-25T00:00:00Z", None, "custom"),
])
def test_preset_of_names_the_range(since, until, label):
    assert preset_of(since, until) == label


@pytest.mark.parametrize("span, step", [
    (timedelta(minutes=15), timedelta(seconds=30)),    # 30 buckets
    (timedelta(hours=1), timedelta(minutes=1)),        # 60
    (timedelta(hours=24), timedelta(minutes=30)),      # 48
    (timedelta(days=7), timedelta(hours=3)),           # 56
    (timedelta(days=30), timedelta(hours=12)),         # 60
    (timedelta(0), timedelta(seconds=1)),              # an empty range still has a bucket
])
def test_bucket_step_keeps_at_most_80_buckets(span, step):
    assert bucket_step(NOW - span, NOW) == step


def test_floor_to_lines_buckets_up_on_the_epoch():
    assert floor_to(NOW, timedelta(minutes=30)) == datetime(2026, 12, 7, 15, 30)
    assert floor_to(NOW, timedelta(days=1)) == datetime(2026, 12, 7)

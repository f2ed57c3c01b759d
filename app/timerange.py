"""The one time model of the API, the pages and the CLI: a range is ``since`` .. ``until``.

Each bound is written as
    an absolute time   ``2026-11-25T18:13:46Z``, ``...+02:00``, or without a zone (UTC);
                       ``2026-11-25`` (midnight UTC); a browser's ``2026-11-25T18:13``
    a relative time    ``-15m``, ``-1h``, ``-24h``, ``-7d``, ``-30d``, ``-90s``, ``-2w``
                       (before now), or ``now``
and resolved against one ``now`` by ``parse_bound`` (pure: ``now`` is an argument). Pages
offer PRESETS (``since=-24h``, no ``until``) and use DEFAULT_SINCE when no bound is given.

    parse_bound     text -> naive UTC datetime; ValueError naming what is wrong
    preset_of       which preset (or "custom") the raw since/until of a URL is
    bucket_step     the histogram bucket size for a range
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from app.timeutil import to_naive_utc

UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1),
         "d": timedelta(days=1), "w": timedelta(weeks=1)}
RELATIVE = re.compile(r"^-(\d{1,6})([smhdw])$")
# label -> the ``since`` it sets; "all" drops the bound
PRESETS = {"15m": "-15m", "1h": "-1h", "24h": "-24h", "7d": "-7d", "30d": "-30d"}
DEFAULT_SINCE = "-24h"                  # every page's range when the URL names none
MAX_RELATIVE = timedelta(days=3660)     # beyond ten years a relative time is a typo
# Bucket sizes of the histograms, smallest first; bucket_step picks the first that keeps a
# range under max_buckets bars.
STEPS = [timedelta(seconds=s) for s in (
    1, 5, 10, 30, 60, 2 * 60, 5 * 60, 10 * 60, 15 * 60, 30 * 60, 3600, 2 * 3600, 3 * 3600,
    6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400)]
FORMS = "an ISO time (2026-11-25T18:13:46Z), 'now', or a relative time such as -15m, -24h, -7d"


def relative(text: str) -> timedelta | None:
    """``-24h`` -> 24 hours; None when ``text`` is not a relative time."""
    m = RELATIVE.match(text)
    return int(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_bound(value: str | datetime, now: datetime) -> datetime:
    """One bound of a range as naive UTC; ``now`` (naive UTC) anchors ``now`` and ``-24h``."""
    if isinstance(value, datetime):
        return to_naive_utc(value)
    text = value.strip()
    if text.lower() == "now":
        return now
    delta = relative(text.lower())
    if delta is not None:
        if delta > MAX_RELATIVE:
            raise ValueError(f"{text!r} reaches back more than ten years")
        return now - delta
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: use {FORMS}") from None
    return to_naive_utc(when)


def preset_of(since: str | None, until: str | None) -> str:
    """The preset label a URL's raw bounds are ("24h"), "all" without bounds, else "custom"."""
    if not since and not until:
        return "all"
    for label, value in PRESETS.items():
        if since == value and until in (None, "", "now"):
            return label
    return "custom"


def bucket_step(since: datetime, until: datetime, max_buckets: int = 80) -> timedelta:
    """The smallest step of STEPS that cuts ``since``..``until`` into at most ``max_buckets``."""
    span = max(until - since, timedelta(seconds=1))
    for step in STEPS:
        if span / step <= max_buckets:
            return step
    return STEPS[-1]


def floor_to(when: datetime, step: timedelta) -> datetime:
    """``when`` rounded down to a multiple of ``step`` since the epoch (buckets line up)."""
    epoch = datetime(1970, 1, 1)
    return epoch + step * ((when - epoch) // step)

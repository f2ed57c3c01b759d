"""The guest timeline: derivation of boots / migrations / marks, and its SVG, as tables."""
import itertools
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest

from app.timeutil import iso
from app.web.timeline import build_timeline
from app.web.timeline_svg import tick_step, timeline_svg

T0 = datetime(2026, 11, 25, 3, 0)   # naive UTC, as the store and the timeline keep times
SEQ = itertools.count(1)     # calls at the same minute keep their spool order


def ev(minute, host, op, subop="begin", outcome="ok", eid=None):
    return {"started_at": iso(T0 + timedelta(minutes=minute)),
            "host": host, "op": op, "subop": subop, "outcome": outcome, "driver": "libxl",
            "extra": "-", "seq": next(SEQ),
            "event_id": eid or f"{host}-{minute}-{op}"}


def boot(host, m, release_at=None, **kw):
    """prepare → start → started at minute m, and stopped → release at ``release_at``."""
    calls = [ev(m, host, "prepare"), ev(m, host, "start"), ev(m, host, "started")]
    if release_at is not None:
        calls += [ev(release_at, host, "stopped", "end"), ev(release_at, host, "release", "end")]
    return calls


def summary(tl):
    bars = [(b.host, (b.start - T0).seconds // 60,
             None if b.end is None else (b.end - T0).seconds // 60, b.outcome) for b in tl.bars]
    return {"hosts": tl.hosts, "bars": bars,
            "marks": [(m.host, m.outcome, m.label) for m in tl.marks],
            "migrations": [(g.source, g.dest, g.outcome) for g in tl.migrations]}


CASES = [
    # a clean start then shutdown: one closed green bar
    ("start_and_stop", boot("dom0-a", 1, 20),
     {"hosts": ["dom0-a"], "bars": [("dom0-a", 1, 20, "ok")], "marks": [], "migrations": []}),
    # still running: the bar stays open to the end of the range
    ("running", boot("dom0-a", 5),
     {"hosts": ["dom0-a"], "bars": [("dom0-a", 5, None, "ok")], "marks": [], "migrations": []}),
    # libxl: a refused prepare aborts the start; no stopped/release follow, the bar closes there
    ("prepare_refused", [ev(3, "dom0-a", "prepare", outcome="aborted")],
     {"hosts": ["dom0-a"], "bars": [("dom0-a", 3, 3, "aborted")],
      "marks": [("dom0-a", "aborted", "prepare aborted")], "migrations": []}),
    # a failing started hook destroys the guest; stopped/release then close the bar
    ("started_killed", [ev(1, "h", "prepare"), ev(1, "h", "start"),
                        ev(2, "h", "started", outcome="killed"), ev(2, "h", "stopped", "end"),
                        ev(2, "h", "release", "end")],
     {"hosts": ["h"], "bars": [("h", 1, 2, "killed")],
      "marks": [("h", "killed", "started killed")], "migrations": []}),
    # migration a → b: destination's migrate opens b's boot, a releases after confirm
    ("migration", boot("a", 0) + [ev(10, "b", "migrate"), ev(10, "b", "prepare"),
                                  ev(10, "b", "start"), ev(10, "b", "started"),
                                  ev(11, "a", "stopped", "end"), ev(11, "a", "release", "end")],
     {"hosts": ["a", "b"], "bars": [("a", 0, 11, "ok"), ("b", 10, None, "ok")], "marks": [],
      "migrations": [("a", "b", "ok")]}),
    # a refused incoming migration: arrow marked aborted, b gets a zero-length aborted bar
    ("migration_refused", boot("a", 0) + [ev(10, "b", "migrate", outcome="aborted")],
     {"hosts": ["a", "b"], "bars": [("a", 0, None, "ok"), ("b", 10, 10, "aborted")],
      "marks": [("b", "aborted", "migrate aborted")], "migrations": [("a", "b", "aborted")]}),
    # libvirtd restart: reconnect opens a boot for a guest we never saw start; failure kills it
    ("reconnect_killed", [ev(4, "h", "reconnect", outcome="killed"),
                          ev(4, "h", "stopped", "end"), ev(4, "h", "release", "end")],
     {"hosts": ["h"], "bars": [("h", 4, 4, "killed")],
      "marks": [("h", "killed", "reconnect killed")], "migrations": []}),
    # events arrive out of order (two forwarders): derivation sorts by time first
    ("unordered", list(reversed(boot("h", 1, 9))),
     {"hosts": ["h"], "bars": [("h", 1, 9, "ok")], "marks": [], "migrations": []}),
    # a failing release hook is ignored by libvirt: the bar is amber, no failure mark
    ("release_failed_ignored", boot("h", 1) + [ev(5, "h", "release", "end", "failed_ignored")],
     {"hosts": ["h"], "bars": [("h", 1, 5, "failed_ignored")], "marks": [], "migrations": []}),
    ("empty", [], {"hosts": [], "bars": [], "marks": [], "migrations": []}),
]


@pytest.mark.parametrize("name,events,expected", CASES, ids=[c[0] for c in CASES])
def test_build_timeline_derives_boots_marks_and_migrations(name, events, expected):
    tl = build_timeline(events, T0, T0 + timedelta(hours=1))
    assert summary(tl) == expected


HOSTILE = '<img src=x onerror=alert(1)>"&</svg><script>'


@pytest.mark.parametrize("name,events", [
    ("hostile host name", boot(HOSTILE, 1, 2)),
    ("hostile event id", [ev(1, "h", "prepare", outcome="aborted", eid=HOSTILE)]),
    ("hostile migration", boot(HOSTILE, 0) + [ev(3, "b", "migrate", eid=HOSTILE)]),
])
def test_timeline_svg_escapes_every_text(name, events):
    svg = timeline_svg(build_timeline(events, T0, T0 + timedelta(hours=1)))
    ET.fromstring(svg)                         # well-formed: nothing broke out of an attribute
    assert "<img" not in svg and "<script" not in svg and "</svg><" not in svg.replace("</svg>", "", 1)


def test_timeline_svg_is_wellformed_with_links_to_events():
    svg = timeline_svg(build_timeline(boot("h", 1, 30) + [ev(40, "h", "prepare", outcome="aborted")],
                                      T0, T0 + timedelta(hours=1)))
    root = ET.fromstring(svg)
    hrefs = [a.get("href") for a in root.iter("{http://www.w3.org/2000/svg}a")]
    assert "/events/h-1-prepare" in hrefs and "/events/h-40-prepare" in hrefs
    assert 'class="tl-bar o-aborted"' in svg and 'class="tl-mark o-aborted"' in svg


def test_timeline_svg_says_so_when_empty():
    svg = timeline_svg(build_timeline([], T0, T0 + timedelta(hours=1)))
    assert "No hook calls in this time range" in svg


def test_bars_are_clamped_to_the_range():
    tl = build_timeline(boot("h", -600, 600), T0, T0 + timedelta(hours=1))
    xs = [float(x) for x in re.findall(r'class="tl-bar[^"]*" x="([\d.]+)"', timeline_svg(tl))]
    assert xs and all(x >= 150 for x in xs)


@pytest.mark.parametrize("span,step", [
    (timedelta(seconds=30), timedelta(seconds=5)),
    (timedelta(hours=1), timedelta(minutes=15)),
    (timedelta(hours=24), timedelta(hours=3)),
    (timedelta(days=7), timedelta(days=1)),
    (timedelta(days=3650), timedelta(days=30)),
])
def test_axis_ticks_use_a_nice_step(span, step):
    assert tick_step(span) == step

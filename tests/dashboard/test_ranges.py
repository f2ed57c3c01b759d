"""One time model on the pages: the default range, presets, relative bounds kept in links,
the histogram above Events, Aborts and the Overview, and a visible notice for a bad bound."""
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard.seeding import WEB_UUID, chain, fleet


@pytest.fixture
def seeded(seed):
    """fleet() two hours ago, plus two calls three days ago (outside the default range)."""
    events = fleet()
    seed(events)
    old = chain("host-a", [{"object": "old-guest", "op": "prepare"},
                           {"object": "old-guest", "op": "prepare", "outcome": "aborted",
                            "exit_code": 1, "reason": "old refusal"}],
                start_seq=len(events) + 1, prev_hash=events[-1]["hash"],
                start=datetime.now(UTC) - timedelta(days=3))
    seed(old)
    return events + old


def _bars(html: str) -> int:
    """Calls the histogram's columns say they hold (data-count of each column)."""
    return sum(int(n) for n in re.findall(r'class="hg-col" href="[^"]*" data-count="(\d+)"', html))


def test_events_page_defaults_to_the_last_24h(viewer_client, seeded):
    html = viewer_client.get("/events").text
    assert "old-guest" not in html and "web-01" in html
    assert 'class="preset current" href="/events?since=-24h" aria-current="true">24h' in html
    assert _bars(html) == 7


def test_a_preset_widens_the_range_and_the_histogram_follows(viewer_client, seeded):
    html = viewer_client.get("/events?since=-7d").text
    assert "old-guest" in html and _bars(html) == 9
    assert 'aria-current="true">7d' in html
    # the relative bound stays relative in the links (permalink, export, next page)
    assert "/api/v1/events?since=-7d&amp;format=csv" in html


def test_aborts_histogram_counts_only_failures(viewer_client, seeded):
    html = viewer_client.get("/aborts?since=-7d").text
    assert _bars(html) == 2 and "(failures only)" in html
    assert "/api/v1/histogram?since=-7d&amp;scope=aborts" in html


def test_overview_takes_the_same_range(viewer_client, seeded):
    day = viewer_client.get("/").text
    week = viewer_client.get("/?since=-7d").text
    assert _bars(day) == 7 and _bars(week) == 9
    assert 'hx-get="/?since=-7d"' in week    # the live refresh keeps the range


def test_custom_range_is_named_and_a_bar_narrows_to_its_bucket(viewer_client, seeded):
    now = datetime.now(UTC)
    since = (now - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    html = viewer_client.get(f"/events?since={since}&until=now").text
    assert "custom: " + since in html
    links = re.findall(r'class="hg-col" href="([^"]*)" data-count="([1-9]\d*)"', html)
    assert links
    bar = links[0][0].replace("&amp;", "&")
    narrowed = viewer_client.get(bar).text
    assert _bars(narrowed) == int(links[0][1])


def test_bad_bound_is_a_visible_notice_on_the_page_and_422_in_the_api(viewer_client, viewer, seeded):
    r = viewer_client.get("/events?since=last-tuesday")
    assert r.status_code == 200 and "were not understood" in r.text and "since" in r.text
    api = viewer.client.get("/api/v1/events?since=last-tuesday")
    assert api.status_code == 422 and api.json()["error"]["details"][0]["field"] == "since"


def test_api_takes_relative_bounds(viewer, seeded):
    recent = viewer.client.get("/api/v1/events?since=-24h&limit=100").json()["items"]
    everything = viewer.client.get("/api/v1/events?limit=100").json()["items"]
    assert len(recent) == 7 and len(everything) == 9
    assert viewer.client.get("/api/v1/events?until=-2d").json()["items"][0]["object"] == "old-guest"
    assert viewer.client.get("/api/v1/overview?since=-7d").json()["total"] == 9


def test_guest_timeline_api_takes_relative_bounds(viewer, seeded):
    url = f"/api/v1/guests/{WEB_UUID}/timeline"
    assert viewer.client.get(url + "?since=-15m").json()["boots"] == []
    assert len(viewer.client.get(url + "?since=-3h&until=now").json()["boots"]) == 1
    assert viewer.client.get(url + "?since=soon").status_code == 422

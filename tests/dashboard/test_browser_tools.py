"""The investigation tools in Chromium: histogram (click a bar, drag a span), presets, the
UTC / local toggle, sub-second times, the "/" search box, and the filters' autocomplete.
Same server set-up as test_browser.py (its module fixtures, a server of this module's own)."""
import re
from urllib.parse import parse_qs, urlparse

import pytest

import os
import subprocess


from tests.conftest import REPO, skip_or_fail
from tests.dashboard.seeding import DB_UUID, fleet, migration_story
from tests.dashboard.test_browser import (  # noqa: F401 (browser is a fixture)
    CHROMIUM,
    _ingest,
    _prepare_db,
    browser,
    expect,
    log_in,
)
from tests.serving import free_port, uvicorn_command, wait_ready

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """test_browser.py's server (same users, hosts and events), with more patience at start:
    the machine running the suite may be busy."""
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} not installed")
    url = f"sqlite:///{tmp_path_factory.mktemp('tools') / 'hookaudit.db'}"
    token, token_b = _prepare_db(url)
    port = free_port()
    env = {**os.environ, "HOOKAUDIT_DATABASE_URL": url, "HOOKAUDIT_SECRET_KEY": "tools-" + "k" * 32,
           "HOOKAUDIT_SESSION_COOKIE_SECURE": "false"}
    proc = subprocess.Popen(uvicorn_command(port), cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, timeout=60)
        events = fleet()
        _ingest(base, token, events)
        a_more, b_events = migration_story(events)
        _ingest(base, token, a_more)
        _ingest(base, token_b, b_events)
        yield {"base": base}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def page(browser, server):  # noqa: F811 (browser: imported above)
    # a zone with a half-hour offset: local times cannot be mistaken for UTC
    ctx = browser.new_context(base_url=server["base"], viewport={"width": 1366, "height": 768},
                              timezone_id="Asia/Kolkata")
    pg = ctx.new_page()
    yield pg
    ctx.close()


def _query(url: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}


def test_clicking_a_bar_narrows_the_events_to_its_bucket(page):
    log_in(page)
    page.goto("/events")
    col = page.locator("svg.histogram a.hg-col:not([data-count='0'])").first
    n = int(col.get_attribute("data-count"))
    col.locator(".hg-hit").click(force=True)
    page.wait_for_url(re.compile(r".*until=.*"))
    q = _query(page.url)
    assert q["since"] < q["until"]
    expect(page.locator("#event-rows tr[id^=ev-]")).to_have_count(n)
    assert page.locator(".preset.current").inner_text().startswith("custom")


def test_dragging_across_the_histogram_narrows_the_range(page):
    log_in(page)
    page.goto("/events?since=-7d")
    box = page.locator("svg.histogram").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.99, y, steps=5)
    page.mouse.up()
    page.wait_for_url(re.compile(r".*until=.*"))
    q = _query(page.url)
    # half of 7 days back .. (almost) now: the span dragged, the other filters kept
    assert "2d" not in q["since"] and q["since"].endswith("Z") and q["until"].endswith("Z")
    assert page.locator("svg.histogram").count() == 1
    assert page.locator("#event-rows tr[id^=ev-]").count() > 0


def test_presets_switch_the_range(page):
    log_in(page)
    page.goto("/aborts")
    expect(page.locator(".preset.current")).to_have_text("24h")
    expect(page.locator("#event-rows tr[id^=ev-]")).to_have_count(2)  # db-02 2 h ago, batch-07
    page.click(".presets a:text-is('15m')")
    page.wait_for_url("**/aborts?since=-15m")
    expect(page.locator(".preset.current")).to_have_text("15m")
    expect(page.locator("#event-rows tr[id^=ev-]")).to_have_count(1)  # batch-07, 9 min ago
    assert "batch-07" in page.locator("#event-rows").inner_text()


def test_times_toggle_between_utc_and_local_and_the_choice_is_remembered(page):
    log_in(page)
    page.goto("/events")
    first = page.locator("#event-rows time").first
    iso = first.get_attribute("datetime")
    utc_text = first.inner_text()
    assert utc_text.replace(" ", "T").startswith(iso[:19].replace(" ", "T")[:16])
    page.click("#tz-toggle")
    expect(page.locator("#tz-toggle")).to_have_text("Times: local")
    local_text = first.inner_text()
    assert local_text != utc_text and first.get_attribute("title").startswith("UTC: ")
    # +05:30: the minutes differ by 30
    assert int(local_text[14:16]) == (int(utc_text[14:16]) + 30) % 60
    page.reload()
    expect(page.locator("#tz-toggle")).to_have_text("Times: local")
    assert page.locator("#event-rows time").first.inner_text() == local_text
    page.click("#tz-toggle")
    assert page.locator("#event-rows time").first.inner_text() == utc_text


def test_calls_sharing_a_second_show_milliseconds(page):
    log_in(page)
    page.goto("/events?host=host-a")     # web-01's stopped and release share a second
    shared = page.locator("#event-rows time.subsecond")
    assert shared.count() >= 2
    assert re.search(r":\d\d\.\d{3}", shared.first.inner_text())
    lone = page.locator("#event-rows time:not(.subsecond)").first
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", lone.inner_text())


def test_slash_focuses_search_and_one_match_jumps(page):
    log_in(page)
    page.goto("/events")
    page.fill("form.filters input[name=q]", "a/b")   # "/" typed in a field stays there
    assert page.input_value("form.filters input[name=q]") == "a/b"
    page.locator("h1").click()
    page.keyboard.press("/")
    expect(page.locator("#site-search")).to_be_focused()
    page.keyboard.type("db-02")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/guests/{DB_UUID}")


def test_search_with_several_matches_lists_them(page):
    log_in(page)
    page.fill("#site-search", "host-")
    page.press("#site-search", "Enter")
    page.wait_for_url("**/search?q=host-")
    expect(page.locator("#search-results li")).to_have_count(2)


def test_host_filter_autocompletes_from_the_server(page):
    log_in(page)
    page.goto("/events")
    page.locator("input[name=host]").press_sequentially("host-")
    options = page.locator("#suggest-host option")
    expect(options).to_have_count(2)
    assert [o.get_attribute("value") for o in options.all()] == ["host-a", "host-b"]

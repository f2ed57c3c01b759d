"""A busy guest's page in Chromium (docs/dashboard.md#busy-guests): a server whose
``timeline_dense_calls`` is 5, so web-01's nine calls (a boot on host-a, a migration to
host-b) are drawn as calls per host and bucket. The columns are links that narrow the range,
the list still groups the calls by boot and names the migration, nothing scrolls sideways at
390 px, no console error, and the note and the lanes' text keep 4.5:1 contrast in both
colour schemes.
"""
import os
import subprocess

import pytest

from tests.conftest import REPO, skip_or_fail
from tests.dashboard.seeding import WEB_UUID, fleet, migration_story
from tests.dashboard.test_browser import CHROMIUM, _ingest, _prepare_db, log_in, shot
from tests.dashboard.test_browser_fit import (  # noqa: F401 (browser: a fixture on this server)
    CONTRAST_JS, NARROW, WIDE, browser)
from tests.serving import free_port, uvicorn_command, wait_ready

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("playwright (python) is not installed")
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-busy') / 'hookaudit.db'}"
    token, token_b = _prepare_db(url)
    port = free_port()
    env = {**os.environ, "HOOKAUDIT_DATABASE_URL": url,
           "HOOKAUDIT_SECRET_KEY": "browser-test-" + "k" * 32,
           "HOOKAUDIT_SESSION_COOKIE_SECURE": "false", "HOOKAUDIT_TIMELINE_DENSE_CALLS": "5"}
    proc = subprocess.Popen(uvicorn_command(port), cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, timeout=60)
        events = fleet()
        _ingest(base, token, events)
        a_more, b_events = migration_story(events)
        _ingest(base, token_b, b_events)
        _ingest(base, token, a_more)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def open_page(browser, base, viewport=WIDE, scheme="light"):
    ctx = browser.new_context(base_url=base, viewport=viewport, color_scheme=scheme)
    page = ctx.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    log_in(page)
    return page


def test_busy_guest_is_counted_and_a_column_narrows_to_its_boots(browser, server):
    page = open_page(browser, server)
    page.goto(f"/guests/{WEB_UUID}")
    assert "9 calls in this range" in page.locator("#dense-note").inner_text()
    lanes = page.locator("svg.density text.tl-host").all_text_contents()
    assert lanes == ["host-a", "host-b"]
    captions = page.locator("tr.boot-caption").all_inner_texts()
    assert any("ended by migration → host-b" in c for c in captions)
    assert any("began by migration from host-a" in c for c in captions)
    shot(page, "guest-busy")
    # the newest column of host-b: its link narrows the page to that span
    column = page.locator("svg.density a").last
    assert "call" in column.locator("title").text_content()
    column.click()
    page.wait_for_url("**/guests/*?since=*")
    assert "since=" in page.url and "until=" in page.url
    assert page.locator('nav.actions [aria-current="true"]').count() == 1
    assert page.locator("#guest-events tr[id^=ev-]").count() >= 1
    assert page.problems == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_busy_guest_fits_390px_and_keeps_contrast(browser, server, scheme):
    page = open_page(browser, server, NARROW, scheme)
    page.goto(f"/guests/{WEB_UUID}")
    width = page.evaluate("[document.scrollingElement.scrollWidth,"
                          " document.scrollingElement.clientWidth]")
    assert width[0] <= width[1], width
    for sel, ratio in page.evaluate(CONTRAST_JS, ["#dense-note", "svg.density text.tl-host",
                                                  "svg.density text.tl-tick",
                                                  "tr.boot-caption th"]):
        assert ratio is not None and ratio >= 4.5, (scheme, sel, ratio)
    assert page.problems == []

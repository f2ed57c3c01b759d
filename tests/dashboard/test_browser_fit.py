"""Fit and finish in Chromium (issue 15 §1 and §3): API docs offline, no console error (the
favicon), no sideways scroll at 390×844, the nav folds, contrast >= 4.5:1 in both colour
schemes, a skip link and labels, distinct stale / never-seen badges, the aborts' exports and
the policies' hit links. One server per module, as tests/dashboard/test_browser.py (whose
helpers it uses): SQLite, users and hosts through the services, events through ingest.
"""
import os
import subprocess
from datetime import timedelta
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import REPO, skip_or_fail
from tests.dashboard.seeding import WEB_UUID, fleet, migration_story
from tests.dashboard.test_browser import ARGS, CHROMIUM, _ingest, _prepare_db, expect, log_in, shot
from tests.serving import free_port, uvicorn_command, wait_ready

pytestmark = pytest.mark.browser
NARROW = {"width": 390, "height": 844}
WIDE = {"width": 1440, "height": 900}


def _make_host_b_stale_and_add_a_silent_host(url: str) -> None:
    from app.db import Database
    from app.models import Host
    from app.services import accounts

    db = Database(url)
    with db.session(write=True) as s:
        accounts.add_host(s, "dom0-never")
        host_b = s.query(Host).filter_by(name="host-b").one()
        host_b.last_seen_at = host_b.hb_at = host_b.last_seen_at - timedelta(hours=2)
    db.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("playwright (python) is not installed")
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-fit') / 'hookaudit.db'}"
    token, token_b = _prepare_db(url)
    port = free_port()
    env = {**os.environ, "HOOKAUDIT_DATABASE_URL": url,
           "HOOKAUDIT_SECRET_KEY": "browser-test-" + "k" * 32,
           "HOOKAUDIT_SESSION_COOKIE_SECURE": "false", "HOOKAUDIT_POLICY_DIR": str(REPO / "policies")}
    proc = subprocess.Popen(uvicorn_command(port), cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, timeout=60)   # a loaded CI machine
        events = fleet()
        _ingest(base, token, events)
        a_more, b_events = migration_story(events)
        _ingest(base, token, a_more)
        _ingest(base, token_b, b_events)
        r = httpx.post(base + "/api/v1/heartbeat", headers={"Authorization": f"Bearer {token_b}"},
                       json={"host": "host-b", "spool_depth": 5, "oldest_unsent_age_s": 60.0,
                             "last_seq": 30}, timeout=10)
        assert r.status_code == 200, r.text
        _make_host_b_stale_and_add_a_silent_host(url)
        yield {"base": base, "events": events + a_more, "host_b_events": b_events}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, server):
    contexts = []

    def make(viewport=WIDE, color_scheme="light"):
        ctx = browser.new_context(base_url=server["base"], viewport=viewport,
                                  color_scheme=color_scheme, accept_downloads=True)
        contexts.append(ctx)
        pg = ctx.new_page()
        pg.problems = []
        pg.on("console", lambda m: m.type == "error" and pg.problems.append(m.text))
        pg.on("pageerror", lambda e: pg.problems.append(str(e)))
        return pg
    yield make
    for ctx in contexts:
        ctx.close()


def pages(server, unknown: bool = True) -> list[str]:
    refused = server["events"][3]["event_id"]
    return ["/", "/events", "/aborts", "/aborts?by=rule", "/hosts", "/policies", "/guests",
            f"/guests/{WEB_UUID}", f"/events/{refused}", "/hosts/host-a", "/hosts/host-b",
            "/search?q=e", "/attribution?mac=52:54:00:00:00:01", "/conflicts", "/changes",
            "/policies/rules/no-pci-passthrough-prod"] + (["/no/such/page"] if unknown else [])


def test_api_docs_load_offline_from_the_app(new_page, server):
    page = new_page()
    hosts = []
    # every request the pages make, and those the page's CSP refused before the network
    page.on("request", lambda r: hosts.append(urlparse(r.url).netloc))
    refused = []
    page.on("requestfailed", lambda r: refused.append((urlparse(r.url).netloc, r.failure)))
    log_in(page)
    page.click("header nav a[href='/docs']")
    page.wait_for_selector(".swagger-ui .info .title", timeout=60000)
    assert "hookaudit" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-summary-path[data-path='/api/v1/aborts']").count() == 1
    assert page.problems == []
    page.goto("/redoc")
    page.wait_for_selector("h1", timeout=60000)
    assert "hookaudit" in page.locator("h1").first.inner_text()
    # blob: (ReDoc's search worker) has no host; everything else came from the app
    assert set(hosts) - {""} - {h for h, _ in refused} == {urlparse(server["base"]).netloc}
    assert refused == [("cdn.redoc.ly", "csp")]
    # ReDoc's footer logo on cdn.redoc.ly is refused by the page's CSP, nothing else fails
    assert [p for p in page.problems if "cdn.redoc.ly" not in p] == []
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    for path in ("/docs", "/redoc"):
        html = httpx.get(server["base"] + path, cookies=cookies, timeout=10).text
        assert "http://" not in html and "https://" not in html, path
    assert httpx.get(server["base"] + "/openapi.json", timeout=10).status_code == 401


def test_no_page_logs_a_console_error(new_page, server):
    page = new_page()
    log_in(page)
    for path in pages(server, unknown=False):
        page.goto(path)
        page.wait_for_load_state("networkidle")
    assert page.problems == []
    response = page.goto("/no/such/page")          # the unknown route answers a page
    assert response.status == 404 and page.locator("h1").inner_text() == "Not found"


def test_narrow_screen_pages_never_scroll_sideways(new_page, server):
    page = new_page(NARROW)
    log_in(page)
    for path in pages(server):
        page.goto(path)
        width = page.evaluate("[document.scrollingElement.scrollWidth,"
                              " document.scrollingElement.clientWidth]")
        assert width[0] <= width[1], (path, width)
    page.goto(f"/guests/{WEB_UUID}")
    box = page.locator("svg.timeline").bounding_box()
    assert box["width"] >= 700                  # readable: it scrolls in its box, not shrinks
    shot(page, "guest-narrow")


def test_narrow_screen_nav_folds_behind_a_menu_button(new_page):
    page = new_page(NARROW)
    log_in(page)
    nav = page.locator("nav#main-nav")
    assert not nav.is_visible()
    page.click("button.nav-toggle")
    assert nav.is_visible() and page.get_attribute("button.nav-toggle", "aria-expanded") == "true"
    page.click("nav#main-nav a[href='/aborts']")
    page.wait_for_url("**/aborts")
    wide = new_page(WIDE)
    log_in(wide)
    assert wide.locator("nav#main-nav").is_visible() and not wide.locator(".nav-toggle").is_visible()


CONTRAST_JS = """(selectors) => {
  function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return m.length > 3 ? m : m.concat([1]); }
  function lum(c) { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; }
  function background(el) {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor); if (c[3] > 0) return c; }
    return [255, 255, 255, 1]; }
  const out = [];
  for (const sel of selectors) {
    const el = document.querySelector(sel); if (!el) { out.push([sel, null]); continue; }
    const style = getComputedStyle(el);   // SVG text is painted with fill, not color
    const a = lum(rgb(el instanceof SVGElement ? style.fill : style.color));
    const b = lum(background(el));
    out.push([sel, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
  }
  return out; }"""
KEY_ELEMENTS = {
    "/": ["main h1", "main .sub", "main .count b", "#h-hosts", "main table td a", "main th",
          ".badge.h-stale", ".badge.h-never_seen", "header .brand", "main .muted",
          "svg.histogram text.hg-tick"],
    "/aborts": ["main form.filters label", "main input[name=host]", "main .button.secondary",
                "main button[type=submit]", "#event-rows td", ".badge.o-aborted", "main .error-box"],
    "/hosts": ["#hosts td", "#hosts .badge", "#hosts .muted", "#hosts a"],
    "/policies": ["#rules td.mono", "#rules a.hits", "#rules th"],
    "/hosts/host-a": ["main h1", "main .sub a", "#host-facts dt", "#host-facts dd",
                      "#host-facts .badge.h-ok", "#host-facts .muted", "main .actions .muted",
                      "main .actions .button.secondary", "main .legend span", "#outages",
                      "#recent-aborts th", "#recent-aborts td", "#recent-aborts td a",
                      "#recent-aborts .badge.o-aborted", "svg.host-charts text.tl-tick",
                      "svg.host-charts text"],
    "/hosts/host-b": ["#host-facts .badge.h-stale", "#host-facts dd"],
    "/policies/rules/no-pci-passthrough-prod": [
        "main h1 .badge", "main .sub a", "main .error-box", "main .presets a.preset",
        "main .presets a.preset.current", "main .presets .muted", "#rule-totals th",
        "#rule-totals td.num", "#rule-totals td a", "main > p.muted",
        "svg.histogram text.hg-tick"],
    "/search?q=host": ["main .sub a", "#search-results .badge", "#search-results a",
                       "#search-results .muted", "main p b.mono"],
    "/search?q=nothing-is-called-this": ["main .empty", "main .empty b"],
    "/attribution?mac=52:54:00:00:00:01": [
        "main form.filters label", "main input[name=value]", "main select[name=kind]",
        "main button[type=submit]", "main p.muted", "main p.muted b.mono", "main p.muted a",
        "#holders th", "#holders td.muted"],
    "/conflicts": ["main h1", "main .sub", "main .actions a.button",
                   "main .actions a.button.secondary", "main .actions a.muted", "#conflicts th",
                   "#conflicts td.muted"],
    "/changes": ["main form.filters label", "main input[name=since]", "main button[type=submit]",
                 "main form a.muted", "#changes th", "#changes td.muted"],
}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_is_at_least_4_5_in_both_schemes(new_page, scheme):
    page = new_page(color_scheme=scheme)
    log_in(page)
    for path, selectors in KEY_ELEMENTS.items():
        page.goto(path + ("?hots=1" if path == "/aborts" else ""))    # shows the notice
        for sel, ratio in page.evaluate(CONTRAST_JS, selectors):
            assert ratio is not None, (path, sel)
            assert ratio >= 4.5, (scheme, path, sel, round(ratio, 2))


def test_stale_and_never_seen_badges_differ_and_say_since_when(new_page):
    page = new_page()
    log_in(page)
    page.goto("/hosts")
    stale, never = page.locator("#hosts .badge.h-stale"), page.locator("#hosts .badge.h-never_seen")
    colours = [b.evaluate("el => getComputedStyle(el).backgroundColor") for b in (stale, never)]
    assert colours[0] != colours[1]
    row = page.locator("#hosts tbody tr", has=page.locator(".badge.h-stale"))
    assert "stale since" in row.locator(".last-seen").inner_text()
    assert row.locator(".backlog").inner_text().startswith("≥ ")
    assert "as of" in row.locator(".backlog").inner_text()
    shot(page, "hosts")


def test_skip_link_comes_first_and_every_control_has_a_label(new_page):
    page = new_page()
    log_in(page)
    page.goto("/events")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for path in ("/events", "/aborts", "/guests", "/policies"):
        page.goto(path)
        unlabelled = page.evaluate("""() => [...document.querySelectorAll(
            'input:not([type=hidden]), select, textarea')].filter(el =>
            !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name)""")
        assert unlabelled == [], (path, unlabelled)
        assert page.locator("th:not([scope])").count() == 0, path


def test_aborts_by_rule_export_and_multi_outcome(new_page):
    page = new_page()
    log_in(page)
    page.goto("/aborts")
    page.check("input[name=outcome][value=killed]")
    page.wait_for_url("**outcome=killed**")
    assert "batch-07" in page.locator("#event-rows").inner_text()
    assert "db-02" not in page.locator("#event-rows").inner_text()
    page.check("input[name=outcome][value=aborted]")
    expect(page.locator("#event-rows tr[id^=ev-]")).to_have_count(2)
    with page.expect_download() as info:
        page.click("#export-csv")
    header = open(info.value.path()).read().splitlines()[0].split(",")
    assert header[-2:] == ["rule_id", "verdict"]
    page.goto("/aborts?by=rule")
    groups = page.locator("#abort-groups tbody")
    assert "no-pci-passthrough-prod" in groups.inner_text()        # the enforced rule
    assert "the shim itself" in groups.inner_text() or "script" in groups.inner_text()
    shot(page, "aborts")


def test_policies_hit_count_opens_exactly_those_events(new_page):
    page = new_page()
    log_in(page)
    page.goto("/policies")
    link = page.locator("#rule-no-pci-passthrough-prod a.hits").first
    shown = int(link.inner_text())
    link.click()
    page.wait_for_url("**/events?rule=**")
    assert page.locator("#event-rows tr[id^=ev-]").count() == shown

"""The dashboard in Debian's Chromium (Playwright), against the real app under uvicorn.

One server per module: a fresh SQLite file, users and a host created through the service
layer, events seeded through the real ingest API over HTTP. Screenshots of the main pages go
to docs/screenshots/ when HOOKAUDIT_SCREENSHOTS=1 (off by default: a test run leaves the tree clean).
"""
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, skip_or_fail
from tests.dashboard.seeding import (
    DB_UUID,
    EVIL_NAME,
    EVIL_UUID,
    WEB_UUID,
    fleet,
    later,
    migration_story,
)
from tests.serving import free_port, uvicorn_command, wait_ready

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"
SHOTS = REPO / "docs" / "screenshots"


def _prepare_db(url: str) -> tuple[str, str]:
    """Schema, an admin, a viewer, host-a and host-b; returns the two host tokens."""
    from app.db import Database
    from app.models import Base
    from app.services import accounts

    db = Database(url)
    Base.metadata.create_all(db.engine)
    with db.session(write=True) as s:
        accounts.add_user(s, "ada", "admin", PASSWORD)
        accounts.add_user(s, "vic", "viewer", PASSWORD)
        tokens = accounts.add_host(s, "host-a"), accounts.add_host(s, "host-b")
    db.dispose()
    return tokens


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        skip_or_fail(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("playwright (python) is not installed")
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'hookaudit.db'}"
    token, token_b = _prepare_db(url)
    port = free_port()
    env = {**os.environ, "HOOKAUDIT_DATABASE_URL": url, "HOOKAUDIT_SECRET_KEY": "browser-test-" + "k" * 32,
           "HOOKAUDIT_SESSION_COOKIE_SECURE": "false", "HOOKAUDIT_POLICY_DIR": str(REPO / "policies")}
    proc = subprocess.Popen(uvicorn_command(port), cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        events = fleet()
        _ingest(base, token, events)
        a_more, b_events = migration_story(events)
        _ingest(base, token, a_more)
        _ingest(base, token_b, b_events)
        events += a_more
        r = httpx.post(base + "/api/v1/heartbeat", headers={"Authorization": f"Bearer {token_b}"},
                       json={"host": "host-b", "shim_version": "0.1.0", "spool_depth": 42,
                             "oldest_unsent_age_s": 900.0, "parked": 1, "last_seq": 12,
                             "last_error": "POST /api/v1/ingest: connection refused"}, timeout=10)
        assert r.status_code == 200, r.text
        yield {"base": base, "token": token, "events": events, "host_b_events": b_events}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _ingest(base: str, token: str, events: list[dict]) -> None:
    r = httpx.post(base + "/api/v1/ingest", json={"events": events},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    ctx = browser.new_context(base_url=server["base"], viewport={"width": 1366, "height": 768},
                              accept_downloads=True)
    pg = ctx.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    ctx.close()


def expect(locator):
    from playwright.sync_api import expect as pw_expect
    return pw_expect(locator)


def log_in(page, user: str = "vic"):
    page.goto("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def shot(page, name: str) -> None:
    if os.environ.get("HOOKAUDIT_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_login_shows_the_overview(page):
    log_in(page)
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator("text=policy: PCI passthrough is not allowed in prod").count() == 1
    shot(page, "overview")


def test_wrong_password_stays_on_login(page):
    page.goto("/login")
    page.fill("input[name=username]", "vic")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong user name or password."


def test_overview_to_guest_to_event(page):
    log_in(page)
    page.click(f'a[href="/guests/{DB_UUID}"]')
    page.wait_for_url(f"**/guests/{DB_UUID}")
    assert page.locator("svg.timeline .tl-mark.o-aborted").count() == 1
    page.locator("#guest-events a[href^='/events/']").first.click()
    page.wait_for_url("**/events/*")
    assert "start refused: libvirt aborted the guest start" in page.locator(".explain").inner_text()
    shot(page, "event")


def test_filter_the_aborts(page):
    log_in(page)
    page.goto("/aborts")
    assert page.locator("#event-rows tr[id^=ev-]").count() == 2       # db-02 refused, batch-07 killed
    shot(page, "aborts")
    page.fill("input[name=host]", "host-b")
    page.press("input[name=host]", "Enter")
    expect(page.locator("#event-rows tr[id^=ev-]")).to_have_count(1)
    assert "batch-07" in page.locator("#event-rows").inner_text()
    assert page.url.endswith("/aborts?by=reason&host=host-b")      # the permalink
    page.check("input[name=outcome][value=aborted]")      # the aborts page: checkboxes
    page.wait_for_selector("text=No hook calls match these filters.")


def test_new_event_appears_on_the_open_timeline_without_reload(page, server):
    log_in(page)
    page.goto(f"/guests/{WEB_UUID}")
    before = page.locator("#guest-events tr[id^=ev-]").count()
    page.evaluate("window.__marker = 'same page'")
    new = later("host-a", server["events"], [{"op": "stopped", "subop": "end", "object": "web-01",
                                               "domain_uuid": WEB_UUID}])
    _ingest(server["base"], server["token"], new)
    server["events"].extend(new)
    page.wait_for_selector(f"#ev-{new[0]['event_id']}", timeout=10000)
    assert page.locator("#guest-events tr[id^=ev-]").count() == before + 1
    assert page.evaluate("window.__marker") == "same page"      # no reload happened
    assert page.locator("svg.timeline .tl-migration").count() == 1   # host-a → host-b
    shot(page, "guest-timeline")


def test_csv_export_downloads(page):
    log_in(page)
    page.goto("/events")
    shot(page, "events")
    with page.expect_download() as info:
        page.click("#export-csv")
    path = info.value.path()
    text = Path(path).read_text()
    assert text.splitlines()[0].startswith("event_id") and "db-02" in text


def test_hostile_names_and_xml_render_as_text(page, server):
    log_in(page)
    page.goto(f"/guests/{EVIL_UUID}")
    assert EVIL_NAME in page.locator("h1").inner_text()
    assert page.locator("main img").count() == 0
    refused = server["events"][3]
    page.goto(f"/events/{refused['event_id']}")
    assert "</script><script>alert('xml')</script>" in page.locator("#xml").inner_text()
    page.goto("/guests")
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_viewer_cannot_reach_admin_actions(page):
    log_in(page, "vic")
    assert page.locator('a[href="/admin/hosts"]').count() == 0
    page.goto("/admin/hosts")
    assert "admin role" in page.locator("[role=alert]").inner_text()
    assert page.locator("input[name=name]").count() == 0


def test_admin_adds_a_host_and_sees_its_token_once(page):
    log_in(page, "ada")
    page.goto("/admin/hosts")
    page.fill("input[name=name]", "dom0-new")
    page.click("text=Add host and show its token")
    assert page.locator("#new-token").inner_text().startswith("hah_")
    shot(page, "admin-hosts")
    page.goto("/admin/hosts")
    assert page.locator("#new-token").count() == 0


def test_csrf_less_post_is_refused(page):
    log_in(page, "ada")
    status = page.evaluate("""async () => {
        const r = await fetch('/admin/hosts', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'name=forged'});
        return r.status; }""")
    assert status == 403
    page.goto("/admin/hosts")
    assert page.locator("text=forged").count() == 0


def test_hosts_and_guests_pages(page):
    log_in(page)
    page.goto("/hosts")
    assert page.locator("#hosts >> text=host-a").count() == 1
    assert page.locator("#hosts >> text=lagging").count() == 1          # host-b's 15 min backlog
    shot(page, "hosts")
    page.goto("/guests")
    page.fill("form.filters input[name=q]", "web")   # not the header's search box (also q)
    expect(page.locator("#guest-rows tr")).to_have_count(1)
    assert "web-01" in page.locator("#guest-rows").inner_text()
    shot(page, "guests")
    page.goto("/policies")
    assert page.locator("#rule-no-pci-passthrough-prod").count() == 1     # retired, recent hits
    assert page.locator("#rule-memory-cap").count() == 1                  # the example set
    shot(page, "policies")


def test_hosts_page_shows_shim_versions_and_filters_the_hosts_behind(page, server):
    r = httpx.post(server["base"] + "/api/v1/heartbeat", json={"host": "host-a",
                   "shim_version": "0.0.9"}, headers={"Authorization": f"Bearer {server['token']}"},
                   timeout=10)
    assert r.status_code == 200, r.text
    log_in(page)
    page.goto("/hosts")
    rows = page.locator("#hosts tbody tr")
    host_b = rows.filter(has=page.locator('a[href="/events?host=host-b"]'))
    assert "0.1.0" in host_b.inner_text() and host_b.locator(".shim-behind").count() == 0
    host_a = rows.filter(has=page.locator('a[href="/events?host=host-a"]'))
    assert "0.0.9" in host_a.inner_text()
    assert host_a.locator(".shim-behind").inner_text() == "behind"
    page.click("#behind-filter")
    page.wait_for_url("**/hosts?behind=true")
    names = page.locator("#hosts tbody tr td:first-child").all_inner_texts()
    assert "host-a" in names and "host-b" not in names
    assert page.locator("#hosts tbody tr .shim-behind").count() == len(names)
    shot(page, "hosts-behind")
    page.click("#behind-filter")
    page.wait_for_url("**/hosts")
    expect(page.locator("#hosts >> text=host-b")).to_have_count(1)


def test_migrate_filter_diff_is_shown(page, server):
    log_in(page)
    page.goto(f"/events/{server['host_b_events'][0]['event_id']}")
    diff = page.locator("#xml-diff")
    assert "+    <disk type='file'><source file='/srv/xen/images/web-01.img'/></disk>" in diff.inner_text()
    assert "incoming migration allowed" in page.locator(".explain").inner_text()
    shot(page, "event-migrate-diff")


def test_revoking_a_host_asks_first(page):
    log_in(page, "ada")
    page.goto("/admin/hosts")
    page.locator("form[action='/admin/hosts/revoke']").first.locator("button").click()
    page.wait_for_timeout(300)
    assert page.dialogs and page.dialogs[0].startswith("Revoke the token")   # dismissed
    assert page.locator("text=revoked").count() == 0

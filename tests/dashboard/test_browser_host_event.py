"""Chromium (Playwright): the host page, the event page's wrapping and guest navigation, the
guest page's boot groups and the Guests list's migrated filter (test_browser.py's server)."""
import httpx
import pytest

from tests.dashboard.seeding import DB_UUID, WEB_UUID
from tests.dashboard.test_browser import browser, log_in, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def refuse_bundle(server) -> None:
    r = httpx.post(server["base"] + "/api/v1/heartbeat",
                   headers={"Authorization": f"Bearer {server['token']}"}, timeout=10,
                   json={"host": "host-a", "shim_version": "0.1.0", "spool_depth": 0,
                         "bundle_refused": "bundle refused: signed by an unknown key",
                         "libvirt_version": "10.0.0", "libvirt_daemon": "split"})
    assert r.status_code == 200, r.text


def test_hosts_list_opens_the_host_page_with_its_charts(page, server):  # noqa: F811
    refuse_bundle(server)
    log_in(page)
    page.goto("/hosts")
    assert page.locator("a.bundle-refused").count() == 1
    page.click('#hosts a[href="/hosts/host-a"]')
    page.wait_for_url("**/hosts/host-a")
    assert "signed by an unknown key" in page.locator("#bundle-refused").inner_text()
    assert page.locator("svg.host-charts").is_visible()
    assert page.locator("svg.host-charts rect.hs-refused").count() == 1   # the refusing beat
    assert "10.0.0" in page.locator("#host-facts").inner_text()
    assert "db-02" in page.locator("#recent-aborts").inner_text()


def test_virsh_error_and_stderr_wrap_on_a_phone(browser, server):  # noqa: F811
    ctx = browser.new_context(base_url=server["base"], viewport={"width": 390, "height": 844})
    pg = ctx.new_page()
    try:
        log_in(pg)
        pg.goto(f"/guests/{DB_UUID}")
        pg.locator("#guest-events a[href^='/events/']").first.click()
        pg.wait_for_url("**/events/*")
        for box in ("#virsh-error", "#stderr"):
            style = pg.eval_on_selector(box, "e => getComputedStyle(e).whiteSpace")
            wide = pg.eval_on_selector(box, "e => e.scrollWidth > e.clientWidth + 1")
            assert (style, wide) == ("pre-wrap", False), box
    finally:
        ctx.close()


def test_previous_and_next_call_walk_the_guests_life(page):  # noqa: F811
    log_in(page)
    page.goto(f"/guests/{WEB_UUID}")
    assert page.locator("tr.boot-caption").count() >= 2
    assert "ended by migration → host-b" in page.locator("#guest-events").inner_text()
    page.locator("#guest-events tr[id^=ev-] a[href^='/events/']").last.click()  # its first call
    page.wait_for_url("**/events/*")
    first = page.url
    page.click("a[rel=next]")
    page.wait_for_url(lambda url: url != first)
    page.click("a[rel=prev]")
    page.wait_for_url(first)


def test_guests_list_migrated_filter(page):  # noqa: F811
    log_in(page)
    page.goto("/guests")
    page.select_option("#migrated-filter", "true")
    page.wait_for_url("**/guests?*migrated=true*")
    rows = page.locator("#guest-rows a[href^='/guests/']")
    rows.first.wait_for()
    assert rows.count() == 1 and "web-01" in rows.first.inner_text()

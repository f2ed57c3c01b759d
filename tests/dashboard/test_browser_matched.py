"""Chromium (Playwright): the event page scrolls the XML element that matched a rule into view,
inside the XML box and the window (hookaudit.js item 7; test_browser.py's server, whose policy
directory is the repository's policies/, where no-hostdev-in-prod lives)."""
import pytest

from tests.dashboard.seeding import later
from tests.dashboard.test_browser import _ingest, browser, log_in, page, server  # noqa: F401

pytestmark = pytest.mark.browser

# a long definition: the hostdev is far below the first screen and the XML box's first view
DISKS = "".join(f"<disk type='file'><source file='/srv/img/d{i}.img'/><target dev='xvd{i}'/></disk>"
                for i in range(60))
XML = ("<domain type='xen'><name>prod-db</name><uuid>11111111-2222-4333-8444-555555555599</uuid>"
       f"<devices>{DISKS}<hostdev mode='subsystem' type='pci'><source><address bus='0x03'/>"
       "</source></hostdev></devices></domain>")
POLICY = {"bundle_version": "b-old", "decisions": [
    {"rule_id": "no-hostdev-in-prod", "mode": "enforce", "verdict": "deny",
     "message": "PCI passthrough is not allowed for production guests", "error": None}]}


def test_the_matched_element_is_in_view_after_load(page, server):  # noqa: F811
    ev = later("host-a", server["events"], [{
        "op": "prepare", "subop": "begin", "object": "prod-db", "outcome": "aborted",
        "exit_code": 1, "domain_uuid": "11111111-2222-4333-8444-555555555599", "xml": XML,
        "policy": POLICY}])
    _ingest(server["base"], server["token"], ev)
    server["events"] += ev
    log_in(page)
    page.goto(f"/events/{ev[0]['event_id']}")
    mark = page.locator("#xml mark.matched")
    assert mark.count() == 1 and mark.inner_text().startswith("<hostdev")
    page.wait_for_function("""() => {
        const m = document.querySelector('#xml mark.matched').getBoundingClientRect();
        const box = document.getElementById('xml').getBoundingClientRect();
        return m.top >= Math.max(box.top, 0) - 1 && m.top < Math.min(box.bottom, innerHeight);
    }""", timeout=5000)
    # and the page did scroll: the XML box is far below the first screen
    assert page.evaluate("window.scrollY") > 0
    assert page.evaluate("document.getElementById('xml').scrollTop") > 0
    assert "the current rules" in page.locator("#matched-note").inner_text()

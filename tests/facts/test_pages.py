"""The facts pages (/attribution, /conflicts, /changes), the Overview's conflicts section and
the guest page's "changed since last boot": rendered from the same data as their JSON twins."""
import pytest
from fastapi.testclient import TestClient

from app.services.facts_pass import catch_up
from tests.dashboard.conftest import BASE_URL, login
from tests.facts.store import GUESTS, Fleet, guest_xml

MAC = "52:54:00:ab:cd:ef"


@pytest.fixture
def app(make_app):
    return make_app(facts_pass_interval_s=0)


@pytest.fixture
def page(app, viewer):
    with TestClient(app, base_url=BASE_URL) as c:
        yield login(c, viewer.name)


@pytest.fixture
def story(app, client, host_a, host_b):
    """web1 then web2 hold one MAC at once (a conflict that ends); web1's memory grows."""
    fleet = Fleet(client, {"host-a": host_a, "host-b": host_b})
    fleet.boot("host-a", "web1", 0, guest_xml("web1", mac=MAC))
    fleet.boot("host-b", "web2", 5, guest_xml("web2", mac=MAC))
    fleet.shutdown("host-b", "web2", 8, guest_xml("web2", mac=MAC))
    fleet.shutdown("host-a", "web1", 10, guest_xml("web1", mac=MAC))
    fleet.boot("host-a", "web1", 20, guest_xml("web1", mac=MAC, memory_mib=4096))
    catch_up(app.state.db)
    return fleet


def test_the_attribution_form_answers_a_lookup(story, page):
    r = page.get("/attribution", params={"kind": "mac", "value": MAC.upper(),
                                         "at": "2026-11-25T12:06:00Z"})
    assert r.status_code == 200
    rows = r.text.split('<tbody>')[1].split('</tbody>')[0]
    assert "web1" in rows and "web2" in rows and "host-b" in rows


def test_the_attribution_page_shows_a_bad_value_as_an_error(page):
    r = page.get("/attribution", params={"mac": "nope"})
    assert r.status_code == 200 and "&#39;nope&#39; is not a mac" in r.text


def test_the_conflicts_page_lists_the_duplicate_mac(story, page):
    r = page.get("/conflicts")
    assert r.status_code == 200 and f"mac {MAC}" in r.text and "network:default" in r.text
    assert "No conflict recorded" in page.get("/conflicts", params={"ongoing": "true"}).text


def test_the_overview_shows_ongoing_conflicts_only(app, client, host_a, host_b, page, viewer):
    fleet = Fleet(client, {"host-a": host_a, "host-b": host_b})
    fleet.boot("host-a", "web1", 0, guest_xml("web1", mac=MAC))
    fleet.boot("host-b", "web2", 5, guest_xml("web2", mac=MAC))
    catch_up(app.state.db)
    assert "<b>1</b> ongoing" in page.get("/").text
    assert viewer.client.get("/api/v1/overview").json()["conflicts"]["ongoing"] == 1


def test_the_changes_page_filters_by_what_changed(story, page):
    assert "memory changed" in page.get("/changes", params={"what": "memory"}).text
    assert "No definition changed" in page.get("/changes", params={"what": "disks"}).text


def test_the_guest_page_says_what_changed_since_last_boot(story, page):
    html = page.get(f"/guests/{GUESTS['web1']}").text
    assert "Changed since last boot" in html and "memory changed" in html
    assert "Changed since last boot" not in page.get(f"/guests/{GUESTS['web2']}").text

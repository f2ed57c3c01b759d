"""The header search: recognisers in order, jump on one match, list otherwise; autocomplete."""
import pytest

from app.services import search as search_service
from app.services.search import Match, register
from tests.dashboard.seeding import DB_UUID, WEB_UUID, chain, fleet


@pytest.fixture
def seeded(seed, client, host_b):
    events = fleet()
    seed(events)
    from tests.factories import post_events
    assert post_events(client, host_b, chain("host-b", [
        {"object": "web-02", "domain_uuid": "11111111-2222-4333-8444-555555555599"}])).status_code == 200
    return events


def test_search_jumps_to_the_one_match(viewer_client, seeded):
    for text, where in [(WEB_UUID, f"/guests/{WEB_UUID}"),            # a guest UUID
                        (WEB_UUID.upper(), f"/guests/{WEB_UUID}"),    # in capitals
                        ("db-02", f"/guests/{DB_UUID}"),              # a guest name
                        ("host-b", "/events?host=host-b"),            # a host name
                        (seeded[3]["event_id"], f"/events/{seeded[3]['event_id']}")]:  # an event
        r = viewer_client.get("/search", params={"q": text}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == where, text


def test_search_lists_several_matches(viewer_client, seeded):
    r = viewer_client.get("/search?q=web")                 # web-01 and web-02 by prefix
    assert r.status_code == 200 and r.text.count('<li><span class="badge">guest</span>') == 2
    host = viewer_client.get("/search?q=host-")            # host-a and host-b
    assert host.text.count('<span class="badge">host</span>') == 2


def test_search_says_when_nothing_matches(viewer_client, seeded):
    r = viewer_client.get("/search?q=nothing-like-this")
    assert r.status_code == 200 and "Nothing matches" in r.text
    # LIKE wildcards are literal: "%" matches no name
    assert viewer_client.get("/api/v1/search?q=%25").json()["matches"] == []


def test_search_api_is_the_same_data(viewer, seeded):
    data = viewer.client.get("/api/v1/search?q=web").json()
    # most recently active first: web-01 had calls after web-02
    assert [m["label"] for m in data["matches"]] == ["web-01", "web-02"] and data["jump"] is None
    one = viewer.client.get("/api/v1/search", params={"q": "db-02"}).json()
    assert one["jump"] == f"/guests/{DB_UUID}" and one["matches"][0]["kind"] == "guest"


def test_a_registered_recogniser_answers_in_its_place(viewer, seeded, monkeypatch):
    # the mechanism alone: without the built-in MAC recogniser ("fact", tested below)
    monkeypatch.setattr(search_service, "RECOGNISERS",
                        [r for r in search_service.RECOGNISERS if r[0] != "fact"])

    def mac(session, text):
        return [Match("attribution", "web-01 nic", f"/guests/{WEB_UUID}")] if text.count(":") == 5 else []
    register(mac, before="guest_name")
    assert [n for n, _ in search_service.RECOGNISERS][:3] == ["event_id", "guest_uuid", "mac"]
    data = viewer.client.get("/api/v1/search?q=00:16:3e:00:00:01").json()
    assert data["jump"] == f"/guests/{WEB_UUID}" and data["matches"][0]["kind"] == "attribution"


def test_suggest_completes_host_and_guest_names_by_prefix(viewer, seeded):
    hosts = viewer.client.get("/api/v1/suggest?field=host&prefix=host").json()["values"]
    assert hosts == ["host-a", "host-b"]
    guests = viewer.client.get("/api/v1/suggest?field=guest&prefix=web&limit=1").json()["values"]
    assert guests == ["web-01"]
    assert viewer.client.get("/api/v1/suggest?field=mac&prefix=x").status_code == 422
    # any case, on SQLite and PostgreSQL alike
    assert viewer.client.get("/api/v1/suggest?field=host&prefix=HOST-").json()["values"] == hosts


def test_search_and_suggest_need_a_login(client):
    assert client.get("/api/v1/search?q=x").status_code == 401
    assert client.get("/api/v1/suggest?field=host").status_code == 401


def test_every_page_has_the_search_box(viewer_client, seeded):
    assert 'id="site-search"' in viewer_client.get("/events").text


def test_a_mac_pci_address_or_disk_opens_who_held_it(viewer, viewer_client, seeded):
    """app/facts/lookup.py classify routes what people paste to the attribution page."""
    for text, where in [("52-54-00-AB-CD-EF", "/attribution?mac=52-54-00-AB-CD-EF"),
                        ("0000:3b:00.1", "/attribution?hostdev=0000%3A3b%3A00.1"),
                        ("rbd/vm-1234-disk-0", "/attribution?disk=rbd%2Fvm-1234-disk-0")]:
        r = viewer_client.get("/search", params={"q": text}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == where, text
        assert viewer_client.get(where).status_code == 200
    # names are not facts: the guest and host recognisers answer them as before
    data = viewer.client.get("/api/v1/search", params={"q": "db-02"}).json()
    assert [m["kind"] for m in data["matches"]] == ["guest"]

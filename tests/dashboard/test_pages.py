"""Every page renders from real ingested data, escapes host-supplied text, and its JSON twin
serves the same service data. Runs on SQLite and PostgreSQL (the app fixture)."""
import re

import pytest

from app.services.overview import overview
from tests.dashboard.seeding import DB_UUID, chain, EVIL_NAME, EVIL_UUID, WEB_UUID, fleet, later


@pytest.fixture
def seeded(seed):
    events = fleet()
    seed(events)
    return events


def test_overview_shows_counts_latest_abort_and_denial(viewer_client, seeded):
    html = viewer_client.get("/").text
    assert "policy: PCI passthrough is not allowed in prod" in html
    assert "no-pci-passthrough-prod" in html
    assert 'href="/guests/' + DB_UUID + '"' in html


def test_overview_json_twin_is_the_service_data(viewer_client, seeded, app):
    data = viewer_client.get("/api/v1/overview").json()
    with app.state.db.session() as s:
        direct = overview(s, app.state.settings)
    assert data["counts"] == direct["counts"] == {"ok": 6, "aborted": 1, "killed": 0,
                                                  "failed_ignored": 0, "timed_out": 0}
    assert data["top_denials"] == [{"rule_id": "no-pci-passthrough-prod", "denials": 1}]
    assert [a["object"] for a in data["latest_aborts"]] == ["db-02"]


def test_overview_denials_count_only_enforced_refusals(viewer_client, seed):
    warn = {"bundle_version": "b1", "decisions": [
        {"rule_id": "require-description", "mode": "warn", "verdict": "deny",
         "message": "describe the guest", "error": None}]}
    seed(chain("host-a", [{"op": "prepare", "policy": warn}, {"op": "prepare", "policy": warn}]))
    assert viewer_client.get("/api/v1/overview").json()["top_denials"] == []


def test_empty_overview_says_what_to_do(viewer_client):
    html = viewer_client.get("/").text
    assert "No hosts yet." in html and "hookaudit hosts add" in html


def test_pages_answer_with_vary_hx_request(viewer_client, seeded):
    for url in ("/", "/events", "/aborts", "/guests", f"/guests/{WEB_UUID}", "/hosts", "/policies"):
        r = viewer_client.get(url)
        assert r.status_code == 200, url
        assert r.headers["vary"] == "HX-Request", url
        assert "script-src 'self'" in r.headers["content-security-policy"], url


def test_guests_search_finds_by_name(viewer_client, seeded):
    html = viewer_client.get("/guests?q=web").text
    assert "web-01" in html and "db-02" not in html


def test_guests_rows_route_answers_only_the_rows(viewer_client, seeded):
    r = viewer_client.get("/guests/rows?q=web")
    assert "web-01" in r.text and "db-02" not in r.text and "<html" not in r.text


def test_a_page_answers_the_same_to_htmx_whatever_it_targets(viewer_client, seeded):
    plain = viewer_client.get("/guests?q=web").text
    htmx = viewer_client.get("/guests?q=web", headers={"HX-Request": "true", "HX-Target": "guest-rows"})
    assert "<html" in htmx.text and htmx.text.count("web-01") == plain.count("web-01")


def test_a_bad_cursor_on_a_page_answers_an_html_page(viewer_client, seeded):
    for url in ("/events?cursor=bad!", "/events/rows?cursor=bad!", "/guests?cursor=bad!",
                "/aborts?cursor=bad!"):
        r = viewer_client.get(url)
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), url
        assert "cursor is not one this API returned" in r.text, url


def test_hostile_guest_name_is_escaped_everywhere(viewer_client, seeded):
    for url in ("/guests", f"/guests/{EVIL_UUID}", "/events"):
        html = viewer_client.get(url).text
        assert EVIL_NAME not in html, url
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, url


def test_guest_timeline_has_svg_lane_and_events(viewer_client, seeded):
    html = viewer_client.get(f"/guests/{WEB_UUID}").text
    assert '<svg class="timeline"' in html and ">host-a</text>" in html
    assert html.count('<tr id="ev-') == 3 and 'id="live-tail"' in html


def test_guest_timeline_range_picker(viewer_client, seeded):
    # seeded events are ~2 h old: the last hour has none, the default (day of last call) all
    last_hour = viewer_client.get(f"/guests/{WEB_UUID}?range=1h").text
    assert "No hook calls in this time range" in last_hour and '<tr id="ev-' not in last_hour
    assert viewer_client.get(f"/guests/{WEB_UUID}?range=bogus").text.count('<tr id="ev-') == 3


def test_guest_timeline_whole_life_range(viewer_client, seeded):
    # "all" has no lower bound: the picture starts at the guest's first call
    r = viewer_client.get(f"/guests/{WEB_UUID}?range=all")
    assert r.status_code == 200
    assert '<svg class="timeline"' in r.text and r.text.count('<tr id="ev-') == 3


def test_guest_timeline_json_twin_takes_the_same_range(viewer_client, seeded):
    whole = viewer_client.get(f"/api/v1/guests/{WEB_UUID}/timeline").json()
    future = viewer_client.get(f"/api/v1/guests/{WEB_UUID}/timeline?since=2100-01-01T00:00:00Z").json()
    assert len(whole["boots"]) == 1 and future["boots"] == []


def test_unknown_guest_is_404_page(viewer_client):
    r = viewer_client.get("/guests/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and "No such guest" in r.text


def _tail_url(html: str) -> str:
    return re.search(r'id="live-tail" hidden hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_live_rows_after_x_returns_only_newer_events(viewer_client, seeded, seed):
    tail = _tail_url(viewer_client.get(f"/guests/{WEB_UUID}").text)
    assert '<tr id="ev-' not in viewer_client.get(tail).text
    new = later("host-a", seeded, [{"op": op, "subop": "end", "object": "web-01",
                                    "domain_uuid": WEB_UUID, "at": seeded[-1]["started_at"]}
                                   for op in ("stopped", "release")])      # same instant
    seed(new)
    html = viewer_client.get(tail).text
    assert [f'id="ev-{e["event_id"]}"' in html for e in new] == [True, True]
    assert html.count('<tr id="ev-') == 2
    next_tail = _tail_url(html)
    assert next_tail != tail and '<tr id="ev-' not in viewer_client.get(next_tail).text


def test_event_page_explains_and_escapes(viewer_client, seeded):
    refused = seeded[3]
    html = viewer_client.get(f"/events/{refused['event_id']}").text
    assert "start refused: libvirt aborted the guest start" in html
    assert "no-pci-passthrough-prod" in html and "b-2026-11-25.1" in html
    assert "<script>alert" not in html and "&lt;/script&gt;&lt;script&gt;alert" in html
    assert '<mark class="redacted"' in html
    assert "/etc/libvirt/hooks/libxl db-02 prepare begin -" in html


def test_unknown_event_is_404_page(viewer_client):
    r = viewer_client.get("/events/01900000-0000-7000-8000-000000000000")
    assert r.status_code == 404 and "No such event" in r.text


def test_events_filters_make_permalinks_and_export_links(viewer_client, seeded):
    html = viewer_client.get("/events?outcome=aborted&host=host-a").text
    assert "db-02" in html and "web-01" not in html
    # the export carries the page's range as written (the default: the last 24 h)
    assert "/api/v1/events?host=host-a&amp;outcome=aborted&amp;since=-24h&amp;format=csv" in html


def test_events_more_rows_are_keyset_paged(viewer_client, seeded):
    html = viewer_client.get("/events?limit=2").text
    assert html.count('<tr id="ev-') == 2 and 'id="rows-more"' in html
    more = viewer_client.get("/events/rows?limit=2&cursor=" + html.split("cursor=")[1].split("&")[0].split('"')[0])
    assert more.text.count('<tr id="ev-') == 2 and "<html" not in more.text


def test_bad_filter_is_explained_not_500(viewer_client, seeded):
    r = viewer_client.get("/events?outcome=exploded")
    assert r.status_code == 200 and "were not understood" in r.text


def test_aborts_grouped_by_reason_and_rule(viewer_client, seeded):
    html = viewer_client.get("/aborts").text
    assert "policy: PCI passthrough is not allowed in prod" in html and "web-01" not in html
    by_rule = viewer_client.get("/aborts?by=rule").text
    assert "no-pci-passthrough-prod" in by_rule


def test_abort_groups_json_twin(viewer_client, seeded):
    data = viewer_client.get("/api/v1/aborts/groups?by=host").json()
    assert data["by"] == "host" and data["since"].endswith("Z")
    assert data["groups"] == [{"key": "host-a", "kind": "host", "count": 1,
                               "latest_at": seeded[3]["started_at"]}]


def test_abort_groups_by_guest_with_and_without_a_host_filter(viewer_client, seeded):
    """by=guest reads no host column unless a filter needs the hosts table (a 500 once,
    found by the OpenAPI fuzzer)."""
    for query in ("by=guest", "by=guest&host=host-a", "by=guest&host=host-*"):
        data = viewer_client.get("/api/v1/aborts/groups?" + query).json()
        assert data["by"] == "guest"
        assert [(g["kind"], g["count"]) for g in data["groups"]] == [("guest", 1)], query
        assert data["groups"][0]["key"] == seeded[3]["object"]
    assert viewer_client.get("/aborts?by=guest").status_code == 200


def test_abort_groups_default_to_the_last_week(viewer_client, seeded):
    old = viewer_client.get("/api/v1/aborts/groups?since=2000-01-01T00:00:00Z").json()
    assert old["since"].startswith("2000-01-01") and old["groups"][0]["count"] == 1
    future = viewer_client.get("/api/v1/aborts/groups?since=2100-01-01T00:00:00Z").json()
    assert future["groups"] == []


def test_aborts_filter_by_host_excludes_others(viewer_client, seeded):
    html = viewer_client.get("/aborts?host=host-b").text
    assert "db-02" not in html and "No hook calls match these filters." in html


def test_hosts_page_shows_health(viewer_client, seeded):
    html = viewer_client.get("/hosts").text
    assert 'href="/events?host=host-a"' in html and "none" in html      # no seq gaps


def test_hosts_page_marks_the_hosts_behind_the_servers_shim_and_filters_them(
        viewer_client, seeded, client, host_a, host_b):
    import hookshim

    for host, version in ((host_a, "0.0.9"), (host_b, hookshim.__version__)):
        heartbeat = {"host": host.name, "shim_version": version}
        assert client.post("/api/v1/heartbeat", json=heartbeat,
                           headers=host.headers).status_code == 200
    html = viewer_client.get("/hosts").text
    assert f"ships hookshim <strong>{hookshim.__version__}</strong>" in html
    assert "0.0.9 × 1" in html and f"{hookshim.__version__} × 1" in html   # fleet_versions
    assert html.count('class="badge h-lagging shim-behind"') == 1          # host-a's 0.0.9
    assert 'href="/hosts?behind=true"' in html
    only = viewer_client.get("/hosts?behind=true").text
    assert 'href="/events?host=host-a"' in only and 'href="/events?host=host-b"' not in only
    assert 'href="/api/v1/hosts?behind=true"' in only                      # its JSON twin
    assert viewer_client.get("/api/v1/hosts?behind=true").json()[0]["name"] == "host-a"


def test_policies_page_counts_hits_like_its_json_twin(viewer_client, seeded):
    html = viewer_client.get("/policies").text
    rules = viewer_client.get("/api/v1/policies").json()["rules"]
    rule = next(r for r in rules if r["id"] == "no-pci-passthrough-prod")
    assert rule["hits"]["7d"]["deny"] == 1
    assert 'id="rule-no-pci-passthrough-prod"' in html and "retired" in html


def test_policies_test_against_unknown_event(viewer_client):
    html = viewer_client.get("/policies?test_event=nope").text
    assert "No event has this id." in html


def test_policies_test_against_a_stored_event(viewer_client, seeded):
    html = viewer_client.get(f"/policies?test_event={seeded[3]['event_id']}").text
    # no policy directory configured: the (empty) current bundle allows what was refused then
    assert "<b>Would allow</b>" in html
    assert "Recorded at the time: bundle b-2026-11-25.1, 1 decision(s)." in html


def test_static_htmx_is_the_pinned_copy(anon):
    import hashlib
    from pathlib import Path
    record = (Path(__file__).resolve().parents[2] / "app/static/htmx.sha256").read_text().split()
    body = anon.get("/static/htmx.min.js").content
    assert hashlib.sha256(body).hexdigest() == record[2]


def test_guest_page_lists_the_newest_calls_in_full_and_counts_the_rest(viewer_client, seed):
    ops = ["prepare", "start", "started", "stopped", "release"]
    specs = [{"op": ops[i % 5], "object": "web-01", "domain_uuid": WEB_UUID} for i in range(204)]
    specs.append({"op": "prepare", "object": "web-01", "domain_uuid": WEB_UUID,
                  "outcome": "aborted", "exit_code": 1, "reason": "policy: the newest refusal"})
    events = chain("host-a", specs)
    seed(events)
    html = viewer_client.get(f"/guests/{WEB_UUID}").text
    rows = re.findall(r'<tr id="ev-([0-9a-f-]+)"', html)
    assert rows == [e["event_id"] for e in reversed(events)][:200]   # newest first, capped
    assert "policy: the newest refusal" in html and "Showing the newest 200 of 205 calls" in html
    boots = viewer_client.get(f"/api/v1/guests/{WEB_UUID}/timeline").json()["boots"]
    assert len(boots) == 42 and boots[-1]["status"] == "aborted"
    assert html.count("boot via start") == 42     # one bar per boot, as in the JSON twin

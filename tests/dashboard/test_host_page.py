"""The host page /hosts/{name} and its JSON twin /api/v1/hosts/{name}: outages from heartbeat
gaps, health/backlog/lag per slot, drivers seen, bundle trust, libvirt, recent aborts."""
from datetime import timedelta

from tests.dashboard.seeding import chain, fleet
from tests.factories import iso as wire, post_events
from tests.ops.test_heartbeat_history import add_rows, beat
from app.timeutil import utcnow
from app.web.host_svg import host_charts_svg


def test_unknown_host_is_404_in_both(admin, viewer_client):
    assert admin.client.get("/api/v1/hosts/nope").status_code == 404
    page = viewer_client.get("/hosts/nope")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]


def test_an_empty_range_is_refused_with_422(admin, host_a):
    r = admin.client.get("/api/v1/hosts/host-a", params={
        "since": "2026-12-07T10:00:00Z", "until": "2026-12-07T09:00:00Z"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_outages_come_from_gaps_between_heartbeats(app, admin, host_a):
    now = utcnow()
    # 30 s beats, a 20-minute silence two hours ago, then beats again up to now
    before = [now - timedelta(hours=3) + timedelta(seconds=30 * i) for i in range(120)]
    after = [before[-1] + timedelta(minutes=20) + timedelta(seconds=30 * i)
             for i in range(int((now - before[-1]).total_seconds() // 30) - 40)]
    add_rows(app, "host-a", before + after)
    data = admin.client.get("/api/v1/hosts/host-a").json()
    assert [(o["start"], o["end"], o["ongoing"]) for o in data["outages"]] == [
        (wire(before[-1]), wire(after[0]), False)]
    assert data["outages"][0]["duration_s"] == 1200
    states = {s["state"] for s in data["series"]}
    assert {"none", "ok", "down"} <= states and len(data["series"]) == 120


def test_a_host_silent_now_has_an_ongoing_outage(app, admin, host_a):
    add_rows(app, "host-a", [utcnow() - timedelta(hours=1)])
    (outage,) = admin.client.get("/api/v1/hosts/host-a").json()["outages"]
    assert outage["ongoing"] is True and outage["end"] is None
    assert admin.client.get("/api/v1/hosts/host-a").json()["series"][-1]["state"] == "down"


def test_backlog_lag_and_refusal_are_the_worst_in_each_slot(app, admin, host_a):
    now = utcnow()
    add_rows(app, "host-a", [now - timedelta(seconds=40), now - timedelta(seconds=20)],
             oldest_unsent_age_s=900.0, bundle_refused=None)
    beat_slot = admin.client.get("/api/v1/hosts/host-a").json()["series"][-1]
    assert beat_slot["state"] == "lagging" and beat_slot["oldest_unsent_age_s"] == 900.0
    assert beat_slot["spool_depth"] == 1


def test_drivers_bundle_version_and_recent_aborts(admin, seed, host_a):
    seed(fleet("host-a"))
    data = admin.client.get("/api/v1/hosts/host-a").json()
    assert [(d["driver"], d["calls"]) for d in data["drivers"]] == [("libxl", 7)]
    (abort,) = data["recent_aborts"]
    assert abort["object"] == "db-02" and abort["outcome"] == "aborted"
    assert data["bundle_version"] is None    # the newest event carried no policy
    assert data["range"]["until"] > data["range"]["since"]


def test_drivers_outside_the_range_are_not_listed(admin, client, host_a):
    old = chain("host-a", [{"driver": "qemu"}], start=utcnow() - timedelta(days=3))
    assert post_events(client, host_a, old).status_code == 200
    assert admin.client.get("/api/v1/hosts/host-a").json()["drivers"] == []
    wide = admin.client.get("/api/v1/hosts/host-a", params={
        "since": wire(utcnow() - timedelta(days=4))}).json()
    assert [d["driver"] for d in wide["drivers"]] == ["qemu"]


def test_host_page_shows_versions_refusal_outages_and_links(app, client, viewer_client, host_a,
                                                             seed):
    seed(fleet("host-a"))
    beat(client, host_a, shim_version="0.1.0", bundle_refused="bundle refused: unknown signer",
         libvirt_version="10.0.0", libvirt_daemon="split")
    add_rows(app, "host-a", [utcnow() - timedelta(hours=2)])
    html = viewer_client.get("/hosts/host-a").text
    assert 'id="bundle-refused"' in html and "unknown signer" in html
    assert "10.0.0" in html and "split" in html and "libxl" in html
    assert 'href="/events?host=host-a"' in html and 'href="/api/v1/hosts/host-a"' in html
    assert 'id="outages"' in html and "<svg" in html and 'class="host-charts"' in html
    assert "db-02" in html        # a recent abort, linked to its event


def test_hosts_list_links_the_host_page_and_badges_a_refusal(client, viewer_client, host_a,
                                                             host_b):
    beat(client, host_a, bundle_refused="bundle refused: rollback to serial 3")
    beat(client, host_b)
    html = viewer_client.get("/hosts").text
    assert 'href="/hosts/host-a"' in html and 'href="/hosts/host-b"' in html
    assert html.count('class="badge h-chain_broken bundle-refused"') == 1


def test_host_names_are_escaped_in_the_svg():
    series = [{"start": "2026-12-07T10:00:00.000000Z", "state": "ok", "spool_depth": 3,
               "oldest_unsent_age_s": 1.0}] * 4
    svg = host_charts_svg(series, [], "2026-12-07T10:00:00.000000Z",
                          "2026-12-07T11:00:00.000000Z", "<script>")
    assert "<script>" not in svg and "&lt;script&gt;" in svg

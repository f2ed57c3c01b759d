"""Issue 13 §3: host A's token sending events for a guest running on host B is recorded as a
host conflict and shown; it does not move the guest. A real migration still does."""
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import BASE_URL, login
from tests.factories import BASE_TIME, DEFAULT_UUID, chain_of, post_events

BOOT = [{"op": "prepare"}, {"op": "start"}, {"op": "started"}]
STOP = [{"op": "stopped", "subop": "end"}, {"op": "release", "subop": "end"}]


def on(host: str, specs: list[dict], minute: int, after: list[dict] | None = None) -> list[dict]:
    """Events of ``host`` from BASE_TIME + ``minute``, continuing ``after`` (its chain)."""
    last = after[-1] if after else None
    return chain_of(host, specs, start_seq=last["seq"] + 1 if last else 1,
                    **({"prev_hash": last["hash"]} if last else {}),
                    start=BASE_TIME + timedelta(minutes=minute))


def guest(viewer) -> dict:
    return viewer.client.get(f"/api/v1/guests/{DEFAULT_UUID}").json()


def test_another_hosts_start_of_a_running_guest_is_a_conflict_not_a_move(
        client, host_a, host_b, viewer):
    post_events(client, host_b, on("host-b", BOOT, 0))
    forged = on("host-a", BOOT, 5)
    assert post_events(client, host_a, forged).status_code == 200
    g = guest(viewer)
    assert (g["current_host"], g["state"]) == ("host-b", "running")
    assert (g["conflict_host"], g["conflict_event_id"]) == ("host-a", forged[-1]["event_id"])
    assert g["conflict_at"] == forged[-1]["started_at"]
    # every event is stored; the guest's last event stays host-b's
    assert g["last_event_id"] != forged[-1]["event_id"]
    assert len(viewer.client.get("/api/v1/events", params={"host": "host-a"}).json()[
        "items"]) == 3


def test_the_guest_page_shows_the_conflict(client, host_a, host_b, pages):
    post_events(client, host_b, on("host-b", BOOT, 0))
    post_events(client, host_a, on("host-a", BOOT, 5))
    page = pages.get(f"/guests/{DEFAULT_UUID}")
    assert page.status_code == 200 and 'id="host-conflict"' in page.text
    assert "host-a" in page.text.split('id="host-conflict"')[1].split("</dd>")[0]


def test_a_migration_moves_the_guest_without_a_conflict(client, host_a, host_b, viewer):
    post_events(client, host_b, on("host-b", BOOT, 0))
    arrive = on("host-a", [{"op": "migrate", "subop": "begin"}] + BOOT, 5)
    post_events(client, host_a, arrive)
    source = on("host-b", [{"op": "stopped", "subop": "end"},
                           {"op": "release", "subop": "end", "extra": "migrated"}], 6,
                after=on("host-b", BOOT, 0))
    post_events(client, host_b, source)
    g = guest(viewer)
    assert (g["current_host"], g["state"], g["conflict_host"]) == ("host-a", "running", None)


def test_a_release_then_a_start_elsewhere_moves_the_guest(client, host_a, host_b, viewer):
    boot = on("host-b", BOOT, 0)
    post_events(client, host_b, boot + on("host-b", STOP, 1, after=boot))
    post_events(client, host_a, on("host-a", BOOT, 5))
    g = guest(viewer)
    assert (g["current_host"], g["state"], g["conflict_host"]) == ("host-a", "running", None)


def test_a_conflict_arriving_late_is_kept_after_a_replay(client, host_a, host_b, viewer):
    """host-a's claim arrives after host-b's later events (the late-arrival replay path)."""
    boot = on("host-b", BOOT, 0)
    post_events(client, host_b, boot)
    forged = on("host-a", BOOT, 5)
    post_events(client, host_b, on("host-b", [{"op": "attach"}], 10, after=boot))
    post_events(client, host_a, forged)
    g = guest(viewer)
    assert (g["current_host"], g["state"]) == ("host-b", "running")
    assert g["conflict_host"] == "host-a"


@pytest.fixture
def pages(app, viewer):
    """The dashboard, logged in as the viewer through the login form."""
    with TestClient(app, base_url=BASE_URL) as c:
        yield login(c, viewer.name)

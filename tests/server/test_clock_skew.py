"""Issue 13 §3: a host clock far off (year 9999, year 1) keeps its event, flagged, placed at
the server's receive time; it never tops every list nor steers its guest's state."""
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.services.clock_skew import ClockBounds
from app.services.verify import verify_all
from app.timeutil import parse_iso, utcnow
from tests.dashboard.conftest import BASE_URL, login
from tests.factories import chain_of, post_events

NOW = datetime.now(UTC).replace(microsecond=0)
# the factory derives a time-ordered event_id from started_at, which year 1 and 9999 break
ANY_ID = {"event_id": "0190c9a4-5e3b-7c2d-8e9f-0a1b2c3d4e5f"}
LIFE = ["prepare", "start", "started"]


def running_guest(host: str = "host-a", n: int = 3) -> list[dict]:
    """A guest started on ``host`` a minute ago (prepare, start, started)."""
    return chain_of(host, [{"op": op} for op in LIFE[:n]], start=NOW - timedelta(minutes=1))


def then(events: list[dict], *specs: dict) -> list[dict]:
    """More events of the same chain."""
    last = events[-1]
    return chain_of(last["host"], list(specs), start_seq=last["seq"] + 1,
                    prev_hash=last["hash"], start=NOW)


@pytest.mark.parametrize("claimed", ["9999-12-31T23:59:59.000000Z",
                                     "0001-01-01T00:00:00.000000Z"])
def test_a_far_off_started_at_is_kept_flagged_at_its_receive_time(app, client, host_a, viewer,
                                                                 claimed):
    before = utcnow()
    events = running_guest()
    events += then(events, {"op": "stopped", "subop": "end", "at": claimed, **ANY_ID})
    assert post_events(client, host_a, events).json()["stored"] == 4
    event = viewer.client.get(f"/api/v1/events/{events[-1]['event_id']}").json()
    assert event["clock_skew"] is True and event["host_started_at"] == claimed
    assert event["started_at"] == event["received_at"]
    assert before <= parse_iso(event["started_at"]) <= utcnow()
    assert verify_all(app.state.db)[0]["ok"]   # the canonical form keeps the host's claim


def test_a_skewed_event_does_not_top_the_events_list(client, host_a, viewer):
    events = running_guest()
    events += then(events, {"op": "stopped", "subop": "end", "at": "9999-12-31T23:59:59.000000Z", **ANY_ID})
    post_events(client, host_a, events)
    later = then(events, {"op": "release", "subop": "end",
                          "at": datetime.now(UTC) + timedelta(seconds=120)})
    post_events(client, host_a, later)
    first = viewer.client.get("/api/v1/events").json()["items"][0]
    assert first["event_id"] == later[0]["event_id"] and first["clock_skew"] is False


def test_a_skewed_event_does_not_change_its_guests_state(client, host_a, viewer):
    events = running_guest()
    events += then(events, {"op": "stopped", "subop": "end", "at": "9999-12-31T23:59:59.000000Z", **ANY_ID})
    post_events(client, host_a, events)
    guest = viewer.client.get(f"/api/v1/guests/{events[0]['domain_uuid']}").json()
    assert (guest["state"], guest["last_event_id"]) == ("running", events[2]["event_id"])
    # the guest still follows the host's later, believable events
    post_events(client, host_a, then(events, {"op": "stopped", "subop": "end"},
                                     {"op": "release", "subop": "end"}))
    guest = viewer.client.get(f"/api/v1/guests/{events[0]['domain_uuid']}").json()
    assert guest["state"] == "stopped"


def test_a_guest_seen_only_through_a_skewed_clock_is_not_listed(client, host_a, viewer):
    [event] = chain_of("host-a", [{"at": "0001-01-01T00:00:00.000000Z", **ANY_ID}])
    post_events(client, host_a, [event])
    assert viewer.client.get("/api/v1/guests").json()["items"] == []
    assert viewer.client.get("/api/v1/events", params={"guest": event["domain_uuid"]}).json()[
        "items"][0]["clock_skew"] is True




def test_the_future_bound_is_a_setting(make_app):
    from fastapi.testclient import TestClient

    from app.services import accounts

    app = make_app(clock_skew_future_s=3600)
    with app.state.db.session(write=True) as s:
        token = accounts.add_host(s, "host-a")
    client = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    events = running_guest(n=1)
    events += then(events, {"op": "start", "at": datetime.now(UTC) + timedelta(seconds=1800)})
    assert client.post("/api/v1/ingest", json={"events": events}).status_code == 200
    with app.state.db.session() as s:
        from sqlalchemy import select

        from app.models import Event
        assert list(s.scalars(select(Event.clock_skew).order_by(Event.seq))) == [False, False]


def test_a_small_drift_is_believed(client, host_a, viewer):
    events = running_guest(n=1)
    events += then(events, {"op": "start", "at": datetime.now(UTC) + timedelta(seconds=300)})
    post_events(client, host_a, events)
    items = viewer.client.get("/api/v1/events").json()["items"]
    assert [e["clock_skew"] for e in items] == [False, False]


def test_bounds_are_relative_to_the_receive_time():
    bounds, now = ClockBounds(timedelta(seconds=600), timedelta(days=10)), datetime(2026, 1, 1)
    assert not bounds.skewed(now + timedelta(seconds=600), now)
    assert bounds.skewed(now + timedelta(seconds=601), now)
    assert not bounds.skewed(now - timedelta(days=10), now)
    assert bounds.skewed(now - timedelta(days=10, microseconds=1), now)


def test_the_event_page_and_its_row_show_the_flag(client, host_a, pages):
    events = running_guest(n=1)
    events += then(events, {"op": "start", "at": "9999-12-31T23:59:59.000000Z", **ANY_ID})
    post_events(client, host_a, events)
    page = pages.get(f"/events/{events[1]['event_id']}")
    assert page.status_code == 200 and 'id="clock-skew"' in page.text
    assert "9999-12-31T23:59:59.000000Z" in page.text
    assert "clock skew" in pages.get("/events").text


@pytest.fixture
def pages(app, viewer):
    """The dashboard, logged in as the viewer through the login form."""
    with TestClient(app, base_url=BASE_URL) as c:
        yield login(c, viewer.name)

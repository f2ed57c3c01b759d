"""Issue 13 §3: an upper-case event_id is one event, stored once (lower-case) and readable."""
from app.services.verify import verify_all
from hookshim.event import chain_hash
from tests.factories import make_chain, post_events


def upper(event: dict) -> dict:
    """The same event with its event_id in upper case, hashed as a client would."""
    shouted = dict(event, event_id=event["event_id"].upper())
    shouted["hash"] = chain_hash(shouted)
    return shouted


def test_an_upper_case_event_id_is_stored_lower_case_and_readable(app, client, host_a,
                                                                  viewer):
    [event] = make_chain("host-a", 1)
    shouted = upper(event)
    response = post_events(client, host_a, [shouted])
    assert response.status_code == 200
    # the result names the id as sent: the forwarder acknowledges exactly what it sent
    assert response.json()["results"] == [{"event_id": shouted["event_id"], "status": "stored"}]
    for asked in (shouted["event_id"], event["event_id"]):
        got = viewer.client.get(f"/api/v1/events/{asked}")
        assert got.status_code == 200
        assert got.json()["event_id"] == event["event_id"]
    [listed] = viewer.client.get("/api/v1/events").json()["items"]
    assert listed["event_id"] == event["event_id"]


def test_the_same_event_in_another_case_is_a_duplicate(client, host_a, viewer):
    [event] = make_chain("host-a", 1)
    assert post_events(client, host_a, [upper(event)]).json()["stored"] == 1
    again = post_events(client, host_a, [event]).json()
    assert (again["stored"], again["duplicates"]) == (0, 1)
    both = post_events(client, host_a, [upper(event), event]).json()
    assert (both["stored"], both["duplicates"]) == (0, 2)
    assert len(viewer.client.get("/api/v1/events").json()["items"]) == 1


def test_one_batch_holding_both_cases_stores_one_event(client, host_a, viewer):
    [event] = make_chain("host-a", 1)
    result = post_events(client, host_a, [upper(event), event]).json()
    assert [r["status"] for r in result["results"]] == ["stored", "duplicate"]
    assert len(viewer.client.get("/api/v1/events").json()["items"]) == 1


def test_verify_accepts_an_event_sent_in_upper_case(app, client, host_a):
    events = make_chain("host-a", 3)
    events[1] = upper(events[1])
    events[2] = make_chain("host-a", 1, start_seq=3, prev_hash=events[1]["hash"])[0]
    assert post_events(client, host_a, events).json()["chain_problems"] == []
    [report] = verify_all(app.state.db)
    assert report["ok"], report

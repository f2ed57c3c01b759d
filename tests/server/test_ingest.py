"""POST /api/v1/ingest and /heartbeat: the contract the forwarder codes against (§5, §7)."""
from sqlalchemy import func, select

from app.models import ChainProblem, Event, PolicyDecision, XmlBlob
from tests.factories import make_chain, make_event, post_events


def count(app, model):
    with app.state.db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_batch_is_stored_and_acknowledged_per_event(app, client, host_a):
    events = make_chain("host-a", 5)
    r = post_events(client, host_a, events)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == 5 and body["duplicates"] == 0
    assert [x["event_id"] for x in body["results"]] == [e["event_id"] for e in events]
    assert {x["status"] for x in body["results"]} == {"stored"}
    assert body["gaps"] == [] and body["chain_problems"] == []
    assert count(app, Event) == 5


def test_replayed_batch_answers_duplicates_and_stores_nothing_twice(app, client, host_a):
    events = make_chain("host-a", 3)
    post_events(client, host_a, events)
    r = post_events(client, host_a, events + make_chain("host-a", 1, start_seq=4,
                                                        prev_hash=events[-1]["hash"]))
    assert r.status_code == 200
    assert (r.json()["stored"], r.json()["duplicates"]) == (1, 3)
    assert [x["status"] for x in r.json()["results"]] == ["duplicate"] * 3 + ["stored"]
    assert count(app, Event) == 4


def test_same_xml_is_stored_once(app, client, host_a):
    post_events(client, host_a, make_chain("host-a", 5))
    assert count(app, XmlBlob) == 1


def test_event_claiming_another_host_is_refused_with_403(app, client, host_a, host_b):
    events = make_chain("host-a", 2) + [make_event(host="host-b", seq=9)]
    r = post_events(client, host_a, events)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "wrong_host"
    assert count(app, Event) == 0


def test_unknown_token_is_refused_with_401(client):
    r = client.post("/api/v1/ingest", json={"events": []},
                    headers={"Authorization": "Bearer hah_nope"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_revoked_token_is_refused_with_401(app, client, host_a):
    from app.services.accounts import revoke_host

    with app.state.db.session(write=True) as s:
        revoke_host(s, "host-a")
    assert post_events(client, host_a, make_chain("host-a", 1)).status_code == 401


def test_too_many_events_is_413(client, host_a, app):
    app.state.settings.ingest_max_events = 3
    r = post_events(client, host_a, make_chain("host-a", 4))
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "batch_too_large"


def test_too_many_bytes_is_413(client, host_a, app):
    app.state.settings.ingest_max_bytes = 2048
    r = post_events(client, host_a, make_chain("host-a", 4))
    assert r.status_code == 413


def test_invalid_event_rejects_the_whole_batch_naming_index_and_field(app, client, host_a):
    events = make_chain("host-a", 3)
    events[1]["seq"] = "two"
    r = post_events(client, host_a, events)
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert details[0]["index"] == 1 and details[0]["field"] == "seq"
    assert details[0]["event_id"] == events[1]["event_id"]
    assert count(app, Event) == 0


def test_gap_is_recorded_and_closed_by_late_events(app, client, host_a):
    events = make_chain("host-a", 6)
    r = post_events(client, host_a, events[:2] + events[4:])
    assert r.json()["gaps"] == [[3, 4]]
    r = post_events(client, host_a, [events[2]])
    assert r.json()["gaps"] == [[4, 4]]
    r = post_events(client, host_a, [events[3]])
    assert r.json()["gaps"] == [] and r.json()["chain_problems"] == []


def test_tampered_event_is_stored_and_flagged(app, client, host_a):
    events = make_chain("host-a", 3)
    events[1]["reason"] = "edited after hashing"
    r = post_events(client, host_a, events)
    assert r.status_code == 200 and r.json()["stored"] == 3
    problems = r.json()["chain_problems"]
    assert [p["seq"] for p in problems] == [2]
    assert "canonical form" in problems[0]["problem"]
    assert count(app, ChainProblem) == 1


def test_broken_link_is_flagged_on_the_successor_when_a_late_event_arrives(client, host_a):
    events = make_chain("host-a", 3)
    forged = make_event(host="host-a", seq=2, prev_hash=events[0]["hash"], op="start")
    post_events(client, host_a, [events[0], events[2]])
    r = post_events(client, host_a, [forged])
    assert [(p["seq"], p["event_id"]) for p in r.json()["chain_problems"]] == \
        [(3, events[2]["event_id"])]


def test_policy_decisions_are_stored_as_rows(app, client, host_a):
    policy = {"bundle_version": "b1", "decisions": [
        {"rule_id": "no-pci", "mode": "enforce", "verdict": "deny", "message": "no",
         "error": None}]}
    post_events(client, host_a, make_chain("host-a", 1, policy=policy, outcome="aborted"))
    with app.state.db.session() as s:
        row = s.scalars(select(PolicyDecision)).one()
    assert (row.rule_id, row.verdict, row.bundle_version) == ("no-pci", "deny", "b1")


def test_listeners_receive_the_summary_and_their_failure_does_not_fail_ingest(app, client, host_a):
    seen = []
    app.state.ingest_listeners.append(lambda summary: 1 / 0)
    app.state.ingest_listeners.append(seen.append)
    events = make_chain("host-a", 2)
    assert post_events(client, host_a, events).status_code == 200
    assert seen[0]["host"] == "host-a"
    assert [e["event_id"] for e in seen[0]["events"]] == [e["event_id"] for e in events]


def test_heartbeat_is_acknowledged(client, host_a):
    r = client.post("/api/v1/heartbeat", headers=host_a.headers,
                    json={"host": "host-a", "shim_version": "0.1.0", "spool_depth": 3,
                          "oldest_unsent_age_s": 1.5, "parked": 0, "last_seq": 9,
                          "last_error": None})
    assert r.status_code == 200 and r.json()["ok"] is True


def test_heartbeat_for_another_host_is_403(client, host_a, host_b):
    r = client.post("/api/v1/heartbeat", headers=host_a.headers, json={"host": "host-b"})
    assert r.status_code == 403


def test_an_event_id_owned_by_another_host_is_422_naming_it_not_a_duplicate(app, client,
                                                                            host_a, host_b):
    theirs = make_chain("host-b", 1)
    post_events(client, host_b, theirs)
    mine = make_chain("host-a", 2)
    mine[1] = make_event(host="host-a", seq=2, prev_hash=mine[0]["hash"],
                         event_id=theirs[0]["event_id"])
    r = post_events(client, host_a, mine)
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [{"index": 1, "event_id": theirs[0]["event_id"],
                                             "field": "event_id",
                                             "message": "already used by another host"}]
    assert count(app, Event) == 1

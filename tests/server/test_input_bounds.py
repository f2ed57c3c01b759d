"""Issue 13 §3: inputs at the edges get a clear 4xx on both databases, never a 5xx, and a
refusal the forwarder cannot fix is parked, not retried forever."""
import base64
import json
import os

import pytest
from fastapi.testclient import TestClient

from hookshim.config import build
from hookshim.forward import Forwarder
from hookshim.limits import DEPTH
from hookshim.spool import Spool
from hookshim.transport import MockTransport, Response
from tests.factories import make_chain, make_event, post_events
from tests.hookshim.helpers import hook_event


def nested(levels: int):
    """``levels`` JSON arrays, one inside the other."""
    value = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.fixture
def api(app, viewer):
    """The viewer's client that answers a 500 instead of raising the server's exception."""
    return TestClient(app, headers=viewer.headers, raise_server_exceptions=False)


@pytest.fixture
def ingest(app, host_a):
    client = TestClient(app, raise_server_exceptions=False)
    return lambda events: post_events(client, host_a, events)


@pytest.mark.parametrize("field", ["policy", "scripts"])
def test_json_nested_past_the_depth_limit_is_a_422_naming_the_field(ingest, field):
    deep = nested(300)   # issue 13: > 255 levels answered 500 on PostgreSQL
    value = {"bundle_version": "b1", "decisions": [], "x": deep} if field == "policy" \
        else [{"path": "/etc/hook", "x": deep}]
    response = ingest([make_event(**{field: value})])
    assert response.status_code == 422, response.text
    [detail] = response.json()["error"]["details"]
    assert (detail["index"], detail["field"]) == (0, field)


def test_json_nested_up_to_the_depth_limit_is_stored(ingest, api):
    # scripts[] is one level, each script a second: DEPTH - 2 arrays inside fill it exactly
    ok = make_event(scripts=[{"path": "/h", "x": nested(DEPTH - 2)}])
    assert ingest([ok]).status_code == 200
    assert api.get(f"/api/v1/events/{ok['event_id']}").json()["scripts"][0]["x"] \
        == nested(DEPTH - 2)
    too_deep = make_event(seq=2, prev_hash=ok["hash"],
                          scripts=[{"path": "/h", "x": nested(DEPTH - 1)}])
    assert ingest([too_deep]).status_code == 422


def test_forwarder_parks_an_event_the_server_refuses_for_depth(app, make_host, tmp_path):
    """The real forwarder against the real app: the 422 parks the event, the rest is sent."""
    host = make_host("h1")
    client = TestClient(app, headers=host.headers, raise_server_exceptions=False)

    def handle(method, path, body):
        r = client.request(method, path, content=body,
                           headers={"content-type": "application/json"})
        return Response(r.status_code, dict(r.headers), r.content)

    config = build({"host": "h1", "state_dir": str(tmp_path / "state"),
                    "server_url": "http://server.invalid", "interval": 0.01})
    os.makedirs(config.state_dir, exist_ok=True)
    with Spool(os.path.join(config.state_dir, "spool.db")) as sp:
        for i in range(3):
            policy = {"bundle_version": "b", "decisions": [], "x": nested(300)} if i == 1 \
                else None
            sp.append(hook_event(object=f"g{i}", policy=policy))
    fwd = Forwarder(config, transport=MockTransport(handle)).open()
    for _ in range(5):
        fwd.step()
    stats = fwd.spool.stats()
    assert stats["parked"] == 1, stats
    [(row, event)] = fwd.spool.rows(state="parked")
    assert event["object"] == "g1" and "policy" in row["error"]
    stored = fwd.spool.rows(state="sent")
    assert sorted(e["object"] for _, e in stored) == ["g0", "g2"]


@pytest.mark.parametrize("query", [
    "since=9999-12-31T23:59:59.999999-05:00",   # past year 9999 once in UTC
    "until=0001-01-01T00:00:00%2B05:00",        # before year 1 once in UTC
    "since=0001-01-01T00:00:00%2B14:00&until=9999-12-31T23:59:59-14:00",
])
@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/aborts",
                                  "/api/v1/guests/6c0a1e44-9a4c-4a57-9c1c-1f0c2f7d1a01/timeline"])
def test_since_until_beyond_the_calendar_is_a_422(api, client, host_a, path, query):
    post_events(client, host_a, make_chain("host-a", 2))
    response = api.get(f"{path}?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("query", ["since=9999-12-31T23:59:59Z", "until=0001-01-01T00:00:00Z",
                                   "since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59.999999Z"])
def test_since_until_at_the_calendar_edges_in_utc_are_answered(api, client, host_a, query):
    post_events(client, host_a, make_chain("host-a", 2))
    response = api.get(f"/api/v1/events?{query}")
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == (2 if "until=9999" in query else 0)


def cursor(key) -> str:
    return base64.urlsafe_b64encode(f"2026-11-25T12:00:00.000000Z|{key}".encode()).decode()


@pytest.mark.parametrize("path,key", [(p, k) for p in ("/api/v1/events", "/api/v1/aborts")
                                      for k in (2**63, -2**63 - 1, 10**30, "1\x00")]
                         + [("/api/v1/guests", "6c0a1e44\x00")])
def test_a_cursor_key_outside_the_id_range_is_a_422(api, path, key):
    response = api.get(path, params={"cursor": cursor(key)})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_at_the_id_range_edge_is_answered(api, client, host_a):
    post_events(client, host_a, make_chain("host-a", 2))
    assert api.get("/api/v1/events", params={"cursor": cursor(2**63 - 1)}).status_code == 200


@pytest.mark.parametrize("path", [
    "/api/v1/events/%00", "/api/v1/guests/%00", "/api/v1/guests/a%00b/timeline",
    "/api/v1/hosts/%00", "/api/v1/policies/r%00/evaluate", "/api/v1/events?host=%00",
    "/api/v1/guests?cursor=%00",
])
def test_nul_in_a_parameter_is_a_422(api, path):
    response = api.get(path)
    assert response.status_code == 422, response.text
    assert json.dumps(response.json()["error"]["details"])   # the one error shape


def test_nul_in_a_page_parameter_answers_the_error_page(app, viewer):
    client = TestClient(app, headers=viewer.headers, raise_server_exceptions=False)
    response = client.get("/guests/%00")
    assert response.status_code == 422
    assert "text/html" in response.headers["content-type"]

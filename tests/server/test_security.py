"""Who may do what, and what hostile input gets: always the one error shape, never a 5xx."""
import pytest
from sqlalchemy import func, select

from app.models import Event
from tests.factories import make_chain, post_events

READ_PATHS = ["/api/v1/events", "/api/v1/aborts", "/api/v1/guests", "/api/v1/hosts",
              "/api/v1/hosts/host-a", "/api/v1/events/01890000-0000-7000-8000-000000000000",
              "/api/v1/guests/6c0a1e44-9a4c-4a57-9c1c-1f0c2f7d1a01/timeline",
              "/api/v1/events?format=ndjson"]


def assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code


@pytest.mark.parametrize("path", READ_PATHS)
def test_nothing_is_readable_anonymously(client, path):
    assert_error_shape(client.get(path), 401, "unauthorized")


@pytest.mark.parametrize("path", READ_PATHS)
def test_a_host_token_cannot_read(client, host_a, path):
    assert_error_shape(client.get(path, headers=host_a.headers), 401)


def test_healthz_is_anonymous(client):
    assert client.get("/healthz").json() == {"ok": True}


def test_a_user_token_cannot_ingest(client, viewer):
    r = client.post("/api/v1/ingest", json={"events": make_chain("host-a", 1)},
                    headers=viewer.headers)
    assert_error_shape(r, 401)


def test_forged_events_for_another_host_are_refused_even_mixed_into_a_valid_batch(
        app, client, host_a, host_b):
    forged = make_chain("host-b", 2)
    r = post_events(client, host_a, make_chain("host-a", 2) + forged)
    assert_error_shape(r, 403, "wrong_host")
    with app.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 0


SQL_ISH = [
    "'; DROP TABLE events; --",          # classic injection
    "\" OR 1=1 --",                      # quoting games
    "x' UNION SELECT token_hash FROM hosts --",
    "%", "_", "\\",                      # LIKE wildcards and escapes are literal
    "gäst ☃ 🚀",                          # non-ASCII is fine
]


@pytest.mark.parametrize("param", ["host", "guest", "op", "q", "driver"])
def test_sql_ish_filter_values_match_nothing_and_break_nothing(app, viewer, client, host_a,
                                                               param):
    post_events(client, host_a, make_chain("host-a", 2))
    for value in SQL_ISH:
        r = viewer.client.get("/api/v1/events", params={param: value})
        assert r.status_code == 200 and r.json()["items"] == [], value
    with app.state.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 2


@pytest.mark.parametrize("params", [
    {"q": "x" * 60_000},                 # huge value
    {"host": "h" * 300},                 # longer than any host name
    {"host": [f"h{i}" for i in range(60)]},  # too many values
    {"guest": "a\x00b"},                 # NUL (PostgreSQL text cannot hold it)
    {"limit": 10**12},                   # absurd page size
    {"since": "not a time"},
    {"outcome": "exploded"},
    {"cursor": "A" * 300},
    {"unknown_param": "1"},              # typos are errors, not silently ignored filters
])
def test_hostile_filter_values_are_422_in_the_error_shape(viewer, params):
    assert_error_shape(viewer.client.get("/api/v1/events", params=params), 422)


def test_streamed_oversize_body_without_content_length_is_413(app, client, host_a):
    app.state.settings.ingest_max_bytes = 4096

    def body():
        yield b'{"events": ['
        for _ in range(100):
            yield b'{"v": 1, "xml": "' + b"x" * 100 + b'"},'
        yield b"{}]}"

    r = client.post("/api/v1/ingest", content=body(), headers=host_a.headers)
    assert_error_shape(r, 413, "batch_too_large")


@pytest.mark.parametrize("body, status", [
    (b"not json", 422),
    (b'{"events": [NaN]}', 422),         # JSON extensions Python would accept
    (b'{"events": {}}', 422),
    (b'["events"]', 422),
    (b'{"events": [{"seq": 1}]}', 422),
    (b'{"events": ["\\ud800"]}', 422),  # unpaired surrogate
])
def test_malformed_ingest_bodies_are_422(client, host_a, body, status):
    r = client.post("/api/v1/ingest", content=body,
                    headers={**host_a.headers, "content-type": "application/json"})
    assert_error_shape(r, status)


def test_nul_and_surrogates_inside_events_are_stored_or_refused_never_500(app, client, host_a):
    nul = "\x00"
    ok = make_chain("host-a", 1, stderr=f"bad{nul}byte", reason=f"nul{nul}here",
                    driver=f"lib{nul}xl", op=f"pre{nul}pare", object=f"g{nul}1",
                    shim={"version": f"0.1{nul}", "hostname": nul, "pid": 1},
                    policy={"bundle_version": f"b{nul}", "decisions": [
                        {"rule_id": nul, "mode": nul, "verdict": nul, "message": nul}]})
    assert post_events(client, host_a, ok).status_code == 200
    r = client.post("/api/v1/heartbeat", headers=host_a.headers,
                    json={"host": "host-a", "shim_version": nul, "last_error": nul})
    assert r.status_code == 200


def test_unknown_route_and_method_use_the_error_shape(client, viewer):
    assert_error_shape(viewer.client.get("/api/v1/nope"), 404, "not_found")
    assert_error_shape(viewer.client.delete("/api/v1/events"), 405, "method_not_allowed")

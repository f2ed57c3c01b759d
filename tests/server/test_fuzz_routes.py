"""Issue 13 §3: EVERY route of the app (app/main.py ROUTERS: the JSON API, /metrics, the
dashboard's pages and forms) driven with hostile path parameters, query parameters and
bodies, on SQLite and PostgreSQL; any 5xx fails. The routes are enumerated, so a new route
is fuzzed without anyone adding it here. (Schemathesis drives the OpenAPI side by its schema
in test_openapi_fuzz.py; this test reaches the pages and forms it cannot see.)"""
import base64
import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.main import ROUTERS
from tests.dashboard.conftest import BASE_URL, csrf_of, login
from tests.factories import make_chain, make_event, post_events

pytestmark = pytest.mark.slow
EXAMPLES = 6    # per route and database: ~50 routes, ~4 s each (argon2 in the forms)


def _cursor(key) -> str:
    return base64.urlsafe_b64encode(f"9999-12-31T23:59:59.999999Z|{key}".encode()).decode()


HOSTILE = [
    "\x00", "a\x00b", "%00", "%", "_", "\\", "'", "\"; DROP TABLE events; --", "<script>x</script>",
    "../../etc/passwd", "", " ", "a" * 5000, "Ω≈ç√∫😀", "\u202e", "\r\n", "\t",
    "9999-12-31T23:59:59.999999-05:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
    "0001-01-01", "2026-02-30T00:00:00Z", str(2**63), str(-2**63 - 1), str(10**40), "-1", "0",
    "1e999", "NaN", "Infinity", "true", "null", "[]", "{}",
    "6C0A1E44-9A4C-4A57-9C1C-1F0C2F7D1A01", "6c0a1e44-9a4c-4a57-9c1c-1f0c2f7d1a01",
    _cursor(2**63), _cursor(-2**64), _cursor("\x00"), _cursor("x"), "=" * 10,
]
QUERY_NAMES = ["cursor", "limit", "order", "since", "until", "host", "guest", "driver", "op",
               "outcome", "q", "format", "range", "time_range", "after", "before", "hours",
               "behind", "event_id", "next", "next_url", "state", "name", "role"]
values = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))


def routes() -> list[tuple[str, str, list[str]]]:
    """(method, path, path parameter names) of every route the app serves."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
            for method in sorted(route.methods - {"HEAD"}):
                found.append((method, route.path, names))
    return found


ROUTES = routes()


def fill(path: str, names: list[str], value: str) -> str:
    for name in names:
        path = re.sub(r"{%s(?::\w+)?}" % name, quote(value, safe="") or "x", path)
    return path


@pytest.fixture
def clients(app, client, host_a, admin):
    """(admin's logged-in browser, admin's API client, host-a's client): all answer 500s
    instead of raising them, so a 500 is a failed assertion naming the input."""
    post_events(client, host_a, make_chain("host-a", 6))
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as browser:
        login(browser, admin.name)
        api = TestClient(app, headers=admin.headers, raise_server_exceptions=False)
        host = TestClient(app, headers=host_a.headers, raise_server_exceptions=False)
        yield browser, api, host


def test_every_route_is_enumerated():
    paths = {path for _, path, _ in ROUTES}
    assert {"/api/v1/ingest", "/api/v1/events/{event_id}", "/guests/{domain_uuid}/rows",
            "/admin/users", "/login", "/metrics"} <= paths
    assert len(ROUTES) >= 45


@pytest.mark.parametrize(("method", "path", "names"),
                         [r for r in ROUTES if r[1] != "/logout"] + [r for r in ROUTES
                                                                    if r[1] == "/logout"],
                         ids=[f"{m} {p}" for m, p, _ in ROUTES if p != "/logout"]
                         + ["POST /logout"])
def test_no_hostile_input_gets_a_5xx(clients, method, path, names):
    browser, api, host = clients
    is_api = path.startswith(("/api/", "/metrics", "/healthz"))
    hostish = path in ("/api/v1/ingest", "/api/v1/heartbeat", "/api/v1/policy-bundle")
    client = host if hostish else api if is_api else browser
    csrf = csrf_of(browser.get("/admin/users").text) if not is_api else None

    @given(value=values, query=st.dictionaries(st.sampled_from(QUERY_NAMES), values,
                                               max_size=4),
           field=st.sampled_from(sorted(make_event())))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(value, query, field):
        url = fill(path, names, value)
        if method == "GET":
            response = client.get(url, params=query)
        elif is_api:   # a JSON body: an event (or heartbeat) with one field made hostile
            body = {"events": [dict(make_event(), **{field: value})]} \
                if path.endswith("ingest") else dict(query, host="host-a", **{field: value})
            response = client.request(method, url, json=body, params=query)
        else:          # a form with a valid CSRF token, so the handler itself is reached
            form = {name: value for name in ("name", "username", "password", "role", "label",
                                             "host", "token_id", "user", "next")}
            response = client.request(method, url, data={**form, **query, "csrf_token": csrf})
        assert response.status_code < 500, (method, url, query, field, response.text[:300])
    run()

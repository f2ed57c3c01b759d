"""Dashboard fixtures on top of tests/fixtures_app.py (app on SQLite and PostgreSQL, personas).

    anon / viewer_client / admin_client   browser-like TestClients (HTTPS base URL, so the
                                          Secure session cookie is sent), the last two logged in
                                          through the real login form
    seed(events)                          POST events through the real ingest API as host_a
"""
import re

import pytest
from fastapi.testclient import TestClient

from tests.factories import post_events

PASSWORD = "correct horse"       # make_user's default password (tests/fixtures_app.py)
BASE_URL = "https://testserver"


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": password,
                                    "csrf_token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def anon(app):
    with TestClient(app, base_url=BASE_URL) as c:
        yield c


@pytest.fixture
def admin_client(app, admin):
    with TestClient(app, base_url=BASE_URL) as c:
        yield login(c, admin.name)


@pytest.fixture
def viewer_client(app, viewer):
    with TestClient(app, base_url=BASE_URL) as c:
        yield login(c, viewer.name)


@pytest.fixture
def seed(client, host_a):
    """Ingest events for host_a through the real API; asserts they were stored."""
    def seed_events(events):
        r = post_events(client, host_a, events)
        assert r.status_code == 200, r.text
        return r.json()
    return seed_events

"""Dashboard fixtures: a real app on a fresh SQLite file, personas, a logged-in browser-like client.

Personas: ``admin`` and ``viewer`` (dashboard users with passwords), ``host_a`` (a host token
for seeding through the real ingest API).
"""
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

PASSWORD = "correct horse battery staple"


@dataclass
class Persona:
    name: str
    role: str
    password: str = PASSWORD


def _install_dashboard(app):
    """create_app includes the dashboard; older trees needed the call here."""
    if not any(getattr(r, "path", None) == "/login" for r in app.routes):
        from app.web import install
        install(app)
    return app


@pytest.fixture
def web_settings(tmp_path):
    from app.config import Settings
    return Settings(database_url=f"sqlite:///{tmp_path / 'dash.db'}", secret_key="test-secret-" + "x" * 32,
                    session_cookie_secure=False)


@pytest.fixture
def web_app(web_settings):
    from app.main import create_app
    from app.migrate import upgrade
    upgrade(web_settings.database_url)
    app = _install_dashboard(create_app(web_settings))
    yield app
    app.state.db.dispose()


def _add_user(app, persona: Persona) -> Persona:
    from app.services import accounts
    with app.state.db.session(write=True) as s:
        accounts.add_user(s, persona.name, persona.role, persona.password)
    return persona


@pytest.fixture
def admin(web_app) -> Persona:
    return _add_user(web_app, Persona("alice-admin", "admin"))


@pytest.fixture
def viewer(web_app) -> Persona:
    return _add_user(web_app, Persona("victor-viewer", "viewer"))


@pytest.fixture
def host_token(web_app) -> str:
    from app.services import accounts
    with web_app.state.db.session(write=True) as s:
        return accounts.add_host(s, "dom0-a")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: TestClient, persona: Persona) -> TestClient:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": persona.name, "password": persona.password,
                                    "csrf_token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


@pytest.fixture
def anon(web_app):
    with TestClient(web_app) as c:
        yield c


@pytest.fixture
def admin_client(web_app, admin):
    with TestClient(web_app) as c:
        yield login(c, admin)


@pytest.fixture
def viewer_client(web_app, viewer):
    with TestClient(web_app) as c:
        yield login(c, viewer)

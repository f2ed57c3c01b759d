"""App fixtures for every server-side test (registered in tests/conftest.py pytest_plugins).

    db_url    parametrized: "sqlite" (a fresh file per test) and "pg" (a fresh schema per test
              in $HOOKAUDIT_TEST_PG_URL; skipped without it, a failure in CI)
    settings  Settings for db_url (with a secret key and METRICS_TOKEN);  app  create_app(settings) on a create_all'ed schema
    make_app  make_app(**setting_overrides): the one way to get a variant app (datasette's
              make_app_client(**options)), disposed after the test
    client    TestClient (anonymous); host_a / host_b  HostCred(name, token, headers)
    admin / viewer  Persona(name, token, headers, client): a user with an API token
    make_host / make_user  factories for more of them
"""
import os
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from app.config import Settings
from app.db import normalize_url
from app.main import create_app
from app.models import Base
from app.services import accounts
from tests.conftest import skip_or_fail

PG_ENV = "HOOKAUDIT_TEST_PG_URL"
METRICS_TOKEN = "test-metrics-token"   # GET /metrics needs it (or metrics_public)
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@dataclass
class HostCred:
    name: str
    token: str

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Persona:
    name: str
    role: str
    token: str
    client: TestClient

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


def pg_base_url() -> str | None:
    url = os.environ.get(PG_ENV)
    return normalize_url(url) if url else None


@pytest.fixture
def pg_schema_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    base = pg_base_url()
    if not base:
        skip_or_fail(f"{PG_ENV} is not set")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hookaudit.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def settings(db_url) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-not-for-production",
                    metrics_token=METRICS_TOKEN)


@pytest.fixture
def make_app(settings):
    made = []

    def make(**overrides):
        app = create_app(settings.model_copy(update=overrides))
        Base.metadata.create_all(app.state.db.engine)
        made.append(app)
        return app
    yield make
    for app in made:
        app.state.db.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_host(app):
    def make(name: str) -> HostCred:
        with app.state.db.session(write=True) as s:
            return HostCred(name, accounts.add_host(s, name))
    return make


@pytest.fixture
def make_user(app, client):
    def make(name: str, role: str, password: str | None = "correct horse") -> Persona:
        with app.state.db.session(write=True) as s:
            accounts.add_user(s, name, role, password)
            token = accounts.create_user_token(s, name)
        c = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        return Persona(name, role, token, c)
    return make


@pytest.fixture
def host_a(make_host) -> HostCred:
    return make_host("host-a")


@pytest.fixture
def host_b(make_host) -> HostCred:
    return make_host("host-b")


@pytest.fixture
def admin(make_user) -> Persona:
    return make_user("alice", "admin")


@pytest.fixture
def viewer(make_user) -> Persona:
    return make_user("victor", "viewer")

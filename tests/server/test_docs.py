"""Every setting is documented in a docs/ page, and docs/server.md lists the server's routes
(datasette-style doc tests)."""
import pytest

from app.config import Settings
from tests.conftest import REPO

DOC = (REPO / "docs" / "server.md").read_text()
ALL_DOCS = "\n".join(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name):
    env = f"HOOKAUDIT_{name.upper()}"
    assert f"`{env}`" in ALL_DOCS, f"{env} is in app/config.py but in no docs/*.md page"


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/{event_id}",
                                  "/api/v1/aborts", "/api/v1/guests", "/api/v1/guests/{uuid}",
                                  "/api/v1/guests/{uuid}/timeline", "/api/v1/hosts",
                                  "/api/v1/ingest", "/api/v1/heartbeat"])
def test_every_server_route_is_documented(path):
    assert path.replace("/api/v1", "") in DOC or path in DOC

"""Rules the documentation must keep (datasette-style, the one docs test module): generated
tables current, every setting and metric explained, the server's routes listed, links alive,
and docs/architecture.md naming only modules that exist."""
import importlib.util
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.metrics import Metrics
from tests.conftest import REPO

ALL_DOCS = "\n".join(p.read_text() for p in sorted((REPO / "docs").glob("*.md")))
OPERATIONS = (REPO / "docs" / "operations.md").read_text()
SERVER = (REPO / "docs" / "server.md").read_text()
ARCHITECTURE = (REPO / "docs" / "architecture.md").read_text()
OPS_SETTINGS = [name for name in Settings.model_fields
                if name.startswith(("webhook", "alert_", "retention", "metrics_", "public_"))]


def _config_table():
    spec = importlib.util.spec_from_file_location("config_table", REPO / "scripts" / "config_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_configuration_tables_match_the_code():
    readme = (REPO / "README.md").read_text()
    assert _config_table().render(readme) == readme, "run: python scripts/config_table.py"


def test_every_server_setting_has_a_description():
    assert [n for n, f in Settings.model_fields.items() if not f.description] == []


def test_every_shim_key_has_a_meaning():
    from hookshim.config import KEYS

    assert sorted(set(KEYS) - set(_config_table().SHIM_KEYS)) == []
    assert sorted(set(_config_table().SHIM_KEYS) - set(KEYS)) == []


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")])
def test_relative_links_resolve(page):
    text = (REPO / page).read_text()
    base = (REPO / page).parent
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    missing = [t for t in targets if "://" not in t and not (base / t).exists()]
    assert missing == []


@pytest.mark.parametrize("page", ["README.md"] + [f"docs/{p.name}" for p in (REPO / "docs").glob("*.md")])
def test_no_link_leaves_the_repository(page):
    """The repository stands alone: a clone anywhere must find every page it links to."""
    text = (REPO / page).read_text()
    base = (REPO / page).parent
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    outside = [t for t in targets if "://" not in t
               and not (base / t).resolve().is_relative_to(REPO.resolve())]
    assert outside == []


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_every_setting_is_documented(name):
    env = f"HOOKAUDIT_{name.upper()}"
    assert f"`{env}`" in ALL_DOCS, f"{env} is in app/config.py but in no docs/*.md page"


@pytest.mark.parametrize("name", OPS_SETTINGS)
def test_every_operations_setting_is_on_the_operations_page(name):
    assert f"`HOOKAUDIT_{name.upper()}`" in OPERATIONS


def test_every_metric_is_documented():
    families = text_string_to_metric_families(Metrics(hosts_last_seen=list).exposition().decode())
    names = {f.name for f in families if not f.name.endswith("_created")}   # the client's own
    missing = [n for n in names
               if f"`{n}`" not in OPERATIONS and f"`{n}_total`" not in OPERATIONS]
    assert names and not missing, missing


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/events/{event_id}",
                                  "/api/v1/aborts", "/api/v1/guests", "/api/v1/guests/{uuid}",
                                  "/api/v1/guests/{uuid}/timeline", "/api/v1/hosts",
                                  "/api/v1/ingest", "/api/v1/heartbeat"])
def test_every_server_route_is_documented(path):
    assert path.replace("/api/v1", "") in SERVER or path in SERVER


def _app_paths(text: str) -> set[str]:
    return set(re.findall(r"`(app/[\w/.]*\w)", text))


def test_architecture_names_only_modules_that_exist():
    named = _app_paths(ARCHITECTURE)
    assert len(named) > 20 and sorted(p for p in named if not (REPO / p).exists()) == []


def test_architecture_check_sees_a_missing_module():
    assert _app_paths("see `app/services/nowhere.py` and `app/web/`") == {
        "app/services/nowhere.py", "app/web"}

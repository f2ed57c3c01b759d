"""Rules the documentation must keep: generated tables current, every setting explained, links alive."""
import importlib.util
import re

import pytest

from tests.conftest import REPO


def _config_table():
    spec = importlib.util.spec_from_file_location("config_table", REPO / "scripts" / "config_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_configuration_tables_match_the_code():
    readme = (REPO / "README.md").read_text()
    assert _config_table().render(readme) == readme, "run: python scripts/config_table.py"


def test_every_server_setting_has_a_description():
    from app.config import Settings

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

"""Shared test helpers: the project's own XML fixtures (plus a libvirt XML corpus when one is
present), and how CI turns skips into failures."""
import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures_app"]

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
FIXTURES_XML = REPO / "tests" / "fixtures" / "xml"


def corpus_path() -> Path:
    """An optional libvirt XML corpus: $HOOKAUDIT_CORPUS, else ../shared/corpus/libvirt-xml
    beside the repository. Never required: it only adds coverage where it exists."""
    env = os.environ.get("HOOKAUDIT_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus" / "libvirt-xml"


def xml_sources() -> dict:
    """{name: directory}: the fixtures always, the corpus only when it is there."""
    sources = {"fixtures": FIXTURES_XML}
    if corpus_path().is_dir():
        sources["corpus"] = corpus_path()
    return sources


def skip_or_fail(reason: str):
    """Skip on a developer machine; in CI (CI=true) a missing prerequisite is a failure."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", params=sorted(xml_sources()))
def xml_source(request) -> str:
    """Each XML set in turn: "fixtures" (tests/fixtures/xml), then "corpus" if present."""
    return request.param


@pytest.fixture(scope="session")
def xml_dir(xml_source) -> Path:
    return xml_sources()[xml_source]


@pytest.fixture(scope="session")
def xml_files(xml_dir) -> list:
    """Every XML file of the current set, sorted."""
    return sorted(xml_dir.rglob("*.xml"))

"""Shared test helpers: where the libvirt XML corpus is, and how CI turns skips into failures."""
import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures_app"]

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def corpus_path() -> Path:
    """The libvirt XML corpus: $HOOKAUDIT_CORPUS or ../shared/corpus/libvirt-xml beside the repo."""
    env = os.environ.get("HOOKAUDIT_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus" / "libvirt-xml"


def skip_or_fail(reason: str):
    """Skip on a developer machine; in CI (CI=true) a missing prerequisite is a failure."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = corpus_path()
    if not path.is_dir():
        skip_or_fail(f"libvirt XML corpus not found at {path} (set HOOKAUDIT_CORPUS)")
    return path


@pytest.fixture(scope="session")
def corpus_files(corpus_dir) -> list[Path]:
    """All 158 corpus XML files, sorted."""
    return sorted(corpus_dir.rglob("*.xml"))

"""Fixtures for the rollout tests: artefacts built once per session by scripts/build_dist.py,
two versions of them (upgrade and downgrade), and the packaging tools CI must have."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, skip_or_fail

OLD, NEW = "0.1.0", "0.1.1"   # the versions stamped into the two builds


def build(dist, version, *extra):
    """Run the build script; returns the output directory."""
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_dist.py"), "--dist", str(dist),
                    "--version", version, *extra], check=True, capture_output=True)
    return Path(dist)


def require(tool):
    """The tool's path; skipped locally, a failure in CI (scripts/test.sh installs it)."""
    path = shutil.which(tool)
    if path is None:
        skip_or_fail(f"{tool} not installed (scripts/test.sh installs it as root)")
    return path


@pytest.fixture(scope="session")
def dists(tmp_path_factory):
    """{version: dist dir} with the zipapp and, when dpkg-deb is there, the .deb."""
    root = tmp_path_factory.mktemp("dist")
    extra = () if shutil.which("dpkg-deb") else ("--no-deb",)
    return {v: build(root / v, v, *extra) for v in (OLD, NEW)}


@pytest.fixture(scope="session")
def pyz(dists):
    return {v: d / "hookshim.pyz" for v, d in dists.items()}

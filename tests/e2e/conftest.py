"""Fixtures for the real-libvirtd end-to-end tests (marker ``libvirt``).

``private_libvirt`` (session) prepares one private libvirtd namespace (see harness.py) and tears
everything down at the end; modules install their hooks and start/stop the daemon themselves,
because libvirtd discovers hooks only when it starts.
"""
import pytest

from tests.conftest import skip_or_fail
from tests.e2e.harness import LibvirtUnavailable, PrivateLibvirt, check_prerequisites


@pytest.fixture(scope="session")
def private_libvirt():
    try:
        check_prerequisites()
    except LibvirtUnavailable as exc:
        skip_or_fail(f"no private libvirtd on this machine: {exc}")
    lv = PrivateLibvirt()
    try:
        lv.setup()
    except LibvirtUnavailable as exc:
        lv.close()
        skip_or_fail(f"no private libvirtd on this machine: {exc}")
    yield lv
    lv.close()

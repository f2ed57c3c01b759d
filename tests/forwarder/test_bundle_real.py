"""The policy bundle end to end: the real app serves the example policies, the real forwarder
installs them, the real hook decides with them — and keeps deciding with the last good bundle
through a 304, a corrupt download and a server outage."""
import os

import pytest

from tests.conftest import REPO
from tests.forwarder.faultproxy import CORRUPT_BUNDLE, RELAY
from tests.forwarder.stack import assert_delivered_exactly_once
from tests.forwarder.test_faults import Stack

pytestmark = pytest.mark.slow
HOSTDEV_XML = (REPO / "policies" / "tests" / "xml" / "prod-hostdev.xml").read_text()


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path, "sqlite:///%s" % (tmp_path / "server.db"), via_proxy=True,
              app_env={"HOOKAUDIT_POLICY_DIR": str(REPO / "policies")})
    yield s
    s.close()


def hook_denies(s):
    """Run the real hook on a start the example policy refuses; the version it decided with."""
    before = len(s.host.spooled())
    codes = s.host.fire(1, guest="prod-db1", xml=HOSTDEV_XML)
    sp = s.host.spool()
    try:
        ev = sp.latest(limit=1)[-1]
    finally:
        sp.close()
    assert len(s.host.spooled()) == before + 1
    assert codes != [0] and ev["outcome"] == "aborted", ev
    return ev["policy"]["bundle_version"]


def bundle_state(s):
    path = s.host.state_dir / "policy-bundle.json"
    sp = s.host.spool()
    try:
        return os.stat(path).st_mtime_ns, sp.get_meta("bundle_etag"), sp.get_meta("bundle_error")
    finally:
        sp.close()


def test_hook_keeps_deciding_with_the_last_good_bundle(stack):
    s = stack
    done = s.host.forward_once()
    assert done.returncode == 0 and "policy bundle" in done.stderr, done.stderr
    mtime, etag, error = bundle_state(s)
    version = hook_denies(s)
    assert etag == '"%s"' % version and error is None

    # 304: unchanged, nothing rewritten
    assert s.host.forward_once().returncode == 0
    assert ("/api/v1/policy-bundle", 304) in s.proxy.answers
    assert bundle_state(s) == (mtime, etag, None)

    # a corrupt download: refused, the last good bundle stays
    s.proxy.mode = CORRUPT_BUNDLE
    s.host.forward_once()
    mtime2, etag2, error = bundle_state(s)
    assert (mtime2, etag2) == (mtime, etag) and "JSON" in error
    assert hook_denies(s) == version

    # the server down: the hook does not notice
    s.proxy.mode = RELAY
    s.app.stop()
    assert s.host.forward_once(timeout=1).returncode == 1  # events are left unsent
    assert bundle_state(s)[:2] == (mtime, etag)
    assert hook_denies(s) == version

    s.app.start()
    assert s.host.forward_once().returncode == 0
    assert_delivered_exactly_once(s.host, s.db)

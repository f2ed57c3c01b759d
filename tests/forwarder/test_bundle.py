"""Policy bundle pull: ETag / 304, atomic replacement, last good bundle kept on any error."""
import json
import os

import pytest

from hookshim.forward_bundle import BundlePuller, write_atomic
from hookshim.policy import FORMAT
from hookshim.spool import Spool
from hookshim.transport import Transport
from tests.forwarder.scripted import ScriptedServer, error, reply

GOOD = {"format": FORMAT, "version": "v1", "rules": [], "by_op": {}}


def serve_bundle(bundle, etag='"v1"'):
    def handler(req):
        if req.headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return reply(200, bundle, {"ETag": etag})
    return handler


@pytest.fixture
def puller(tmp_path):
    def make(server):
        sp = Spool(str(tmp_path / "spool.db"))
        return BundlePuller(Transport(server.url, timeout=2), sp, str(tmp_path / "bundle.json"))
    return make


def test_new_bundle_is_written_and_its_etag_kept(puller, tmp_path):
    with ScriptedServer(serve_bundle(GOOD)) as server:
        p = puller(server)
        assert p.pull() == "updated"
        assert json.loads((tmp_path / "bundle.json").read_text()) == GOOD
        assert p.spool.get_meta("bundle_etag") == '"v1"'
        assert os.stat(tmp_path / "bundle.json").st_mode & 0o777 == 0o644


def test_unchanged_bundle_is_a_304_and_the_file_is_untouched(puller, tmp_path):
    with ScriptedServer(serve_bundle(GOOD)) as server:
        p = puller(server)
        p.pull()
        before = os.stat(tmp_path / "bundle.json").st_mtime_ns
        assert p.pull() == "unchanged"
        assert server.requests[-1].headers["If-None-Match"] == '"v1"'
        assert os.stat(tmp_path / "bundle.json").st_mtime_ns == before


def test_lost_bundle_file_is_fetched_again_without_if_none_match(puller, tmp_path):
    with ScriptedServer(serve_bundle(GOOD)) as server:
        p = puller(server)
        p.pull()
        (tmp_path / "bundle.json").unlink()
        assert p.pull() == "updated"
        assert "If-None-Match" not in server.requests[-1].headers


@pytest.mark.parametrize("answer", [
    lambda req: (200, {}, b"{not json"),                        # corrupt download
    lambda req: (200, {}, b'{"version": "v2", "rules": [1, 2'),  # truncated download
    lambda req: reply(200, dict(GOOD, version=None)),           # no version
    lambda req: reply(200, dict(GOOD, rules=None)),             # no rules
    lambda req: reply(200, dict(GOOD, format=99)),              # a format the hook cannot read
    lambda req: reply(200, ["v2"]),                             # not an object
    lambda req: error(500, "internal", "boom"),                 # server error
    lambda req: error(401, "unauthorized", "revoked"),          # token refused
])
def test_a_bad_answer_keeps_the_last_good_bundle(puller, tmp_path, answer):
    answers = [serve_bundle(GOOD)]
    with ScriptedServer(lambda req: answers.pop()(req) if answers else answer(req)) as server:
        p = puller(server)
        assert p.pull() == "updated"
        assert p.pull() == "error"
        assert json.loads((tmp_path / "bundle.json").read_text()) == GOOD
        assert p.spool.get_meta("bundle_etag") == '"v1"'
        assert p.spool.get_meta("bundle_error")
        assert [f for f in os.listdir(tmp_path) if f.startswith(".bundle")] == []


def test_server_down_keeps_the_last_good_bundle(puller, tmp_path):
    with ScriptedServer(serve_bundle(GOOD)) as server:
        p = puller(server)
        p.pull()
    assert p.pull() == "error"
    assert json.loads((tmp_path / "bundle.json").read_text()) == GOOD


def test_write_atomic_check_failure_leaves_the_old_file(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def refuse(tmp):
        raise ValueError("no")

    with pytest.raises(ValueError):
        write_atomic(str(target), b"new", check=refuse)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["f"]

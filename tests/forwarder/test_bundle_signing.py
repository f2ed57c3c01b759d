"""Operator-signed policy bundles on the host: the forwarder installs a bundle only when a
pinned signer signed exactly its bytes for the hookaudit-policy namespace and its serial is not
a rollback; anything else is refused, the last good bundle stays, heartbeat and status say so.

Real ssh-keygen, throwaway keys in tmp dirs."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from hookshim import bundle_sig
from hookshim.bundle_sig import SIGNATURE_HEADER, UNPINNED_WARNING, encode_signature
from hookshim.config import build
from hookshim.forward import Forwarder
from hookshim.forward_bundle import BundlePuller
from hookshim.policy import FORMAT
from hookshim.spool import Spool
from hookshim.transport import Transport
from tests.forwarder.scripted import ScriptedServer
from tests.hookshim.helpers import REPO

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


def make_bundle(serial=1, rules=(), **extra):
    bundle = {"format": FORMAT, "rules": list(rules), "by_op": {}, **extra}
    if serial is not None:
        bundle["serial"] = serial
    bundle.setdefault("version", "v%s-%d" % (serial, len(rules)))
    return json.dumps(bundle, sort_keys=True).encode()


class Operator:
    """A throwaway operator key and the allowed_signers line that pins it."""

    def __init__(self, directory, identity):
        directory.mkdir(parents=True, exist_ok=True)
        self.identity, self.key = identity, directory / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", identity,
                        "-f", str(self.key)], check=True)
        self.public = (directory / "key.pub").read_text().split()
        self.line = "%s %s %s\n" % (identity, self.public[0], self.public[1])

    def sign(self, data, namespace=bundle_sig.NAMESPACE):
        path = self.key.parent / "msg"
        path.write_bytes(data)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(self.key), "-n", namespace,
                        str(path)], check=True, capture_output=True)
        sig = (self.key.parent / "msg.sig").read_bytes()
        os.unlink(self.key.parent / "msg.sig")
        return sig


@pytest.fixture
def alice(tmp_path):
    return Operator(tmp_path / "alice", "alice@ops")


@pytest.fixture
def mallory(tmp_path):
    return Operator(tmp_path / "mallory", "mallory@ops")


@pytest.fixture
def signers(tmp_path, alice):
    path = tmp_path / "allowed_signers"
    path.write_text("# operators who may change what hosts enforce\n" + alice.line)
    return str(path)


class Offer:
    """What the scripted server serves: bytes, and optionally a signature header."""

    def __init__(self):
        self.body, self.sig = None, None

    def set(self, body, sig=None):
        self.body, self.sig = body, sig

    def __call__(self, req):
        headers = {"ETag": '"%s"' % json.loads(self.body)["version"]}
        if req.headers.get("If-None-Match") == headers["ETag"]:
            return 304, headers, b""
        if self.sig is not None:
            headers[SIGNATURE_HEADER] = encode_signature(self.sig)
        return 200, headers, self.body


@pytest.fixture
def server():
    offer = Offer()
    with ScriptedServer(offer) as s:
        s.offer = offer
        yield s


@pytest.fixture
def puller(tmp_path, server):
    made = []

    def make(signers=None, **kw):
        sp = Spool(str(tmp_path / "spool.db"))
        made.append(sp)
        return BundlePuller(Transport(server.url, timeout=5), sp, str(tmp_path / "bundle.json"),
                            signers=signers, **kw)
    yield make
    for sp in made:
        sp.close()


def installed(tmp_path):
    return (tmp_path / "bundle.json").read_bytes()


def meta(p, key):
    return p.spool.get_meta(key)


def test_bundle_signed_by_a_pinned_signer_is_installed(tmp_path, server, puller, signers, alice):
    body = make_bundle(serial=7)
    server.offer.set(body, alice.sign(body))
    p = puller(signers)
    assert p.pull() == "updated"
    assert installed(tmp_path) == body
    assert (meta(p, "bundle_signer"), meta(p, "bundle_serial")) == ("alice@ops", "7")
    assert meta(p, "bundle_refused") is None and meta(p, "bundle_error") is None
    assert p.pull() == "unchanged"  # the ETag of a verified bundle is honoured


def refused_after_good(tmp_path, server, p, alice, body, sig):
    """Install a good signed bundle, then offer ``body``/``sig``: the reason it was refused."""
    good = make_bundle(serial=5)
    server.offer.set(good, alice.sign(good))
    assert p.pull() == "updated"
    server.offer.set(body, sig)
    assert p.pull() == "error"
    assert installed(tmp_path) == good  # the last good bundle stays enforced
    assert meta(p, "bundle_signer") == "alice@ops" and meta(p, "bundle_serial") == "5"
    assert meta(p, "bundle_error") == meta(p, "bundle_refused")
    return meta(p, "bundle_refused")


def test_unsigned_bundle_is_refused(tmp_path, server, puller, signers, alice):
    reason = refused_after_good(tmp_path, server, puller(signers), alice,
                                make_bundle(serial=6), None)
    assert "unsigned" in reason and SIGNATURE_HEADER in reason


def test_bundle_signed_by_a_key_not_pinned_is_refused(tmp_path, server, puller, signers, alice,
                                                       mallory):
    body = make_bundle(serial=6)
    reason = refused_after_good(tmp_path, server, puller(signers), alice, body,
                                mallory.sign(body))
    assert "not in %s" % signers in reason


def test_signature_of_other_bytes_is_refused(tmp_path, server, puller, signers, alice):
    body = make_bundle(serial=6)
    reason = refused_after_good(tmp_path, server, puller(signers), alice, body,
                                alice.sign(make_bundle(serial=6, rules=[{"id": "other"}])))
    assert "bad signature" in reason


def test_signature_made_for_another_namespace_is_refused(tmp_path, server, puller, signers,
                                                          alice):
    body = make_bundle(serial=6)
    reason = refused_after_good(tmp_path, server, puller(signers), alice, body,
                                alice.sign(body, namespace="file"))
    assert "bad signature" in reason


def test_signer_pinned_for_another_namespace_only_is_refused(tmp_path, server, puller, alice):
    path = tmp_path / "git_signers"
    path.write_text('alice@ops namespaces="git" %s %s\n' % tuple(alice.public[:2]))
    body = make_bundle(serial=6)
    server.offer.set(body, alice.sign(body))
    p = puller(str(path))
    assert p.pull() == "error" and not (tmp_path / "bundle.json").exists()
    assert "bad signature" in meta(p, "bundle_refused")


@pytest.mark.parametrize("serial", [4, 0])
def test_older_signed_bundle_is_refused_as_a_rollback(tmp_path, server, puller, signers, alice,
                                                      serial):
    body = make_bundle(serial=serial)
    reason = refused_after_good(tmp_path, server, puller(signers), alice, body, alice.sign(body))
    assert "rollback" in reason and "older than the installed 5" in reason


def test_same_serial_with_other_rules_is_refused(tmp_path, server, puller, signers, alice):
    body = make_bundle(serial=5, rules=[{"id": "swapped"}])
    reason = refused_after_good(tmp_path, server, puller(signers), alice, body, alice.sign(body))
    assert "already installed with another version" in reason


def test_signed_bundle_without_a_serial_is_refused(tmp_path, server, puller, signers, alice):
    body = make_bundle(serial=None, version="noserial")
    reason = refused_after_good(tmp_path, server, puller(signers), alice, body, alice.sign(body))
    assert "no serial" in reason


def test_rollback_floor_survives_a_deleted_bundle_file(tmp_path, server, puller, signers, alice):
    p = puller(signers)
    good = make_bundle(serial=5)
    server.offer.set(good, alice.sign(good))
    assert p.pull() == "updated"
    os.unlink(tmp_path / "bundle.json")
    old = make_bundle(serial=3)
    server.offer.set(old, alice.sign(old))
    assert p.pull() == "error" and "rollback" in meta(p, "bundle_refused")
    assert not (tmp_path / "bundle.json").exists()
    server.offer.set(good, alice.sign(good))  # the very same bundle again: installed
    assert p.pull() == "updated" and installed(tmp_path) == good


def test_a_newer_signed_bundle_clears_the_refusal(tmp_path, server, puller, signers, alice):
    p = puller(signers)
    refused_after_good(tmp_path, server, p, alice, make_bundle(serial=6), None)
    newer = make_bundle(serial=6)
    server.offer.set(newer, alice.sign(newer))
    assert p.pull() == "updated" and installed(tmp_path) == newer
    assert meta(p, "bundle_refused") is None and meta(p, "bundle_serial") == "6"


def test_without_signers_pinned_an_unsigned_bundle_is_accepted_with_a_warning(
        tmp_path, server, puller):
    body = make_bundle(serial=None, version="legacy")
    server.offer.set(body)
    p = puller(None)
    assert p.pull() == "updated" and installed(tmp_path) == body
    assert meta(p, "bundle_signer") is None and meta(p, "bundle_refused") is None


def test_pinning_signers_rechecks_a_bundle_installed_unsigned(tmp_path, server, puller, signers):
    body = make_bundle(serial=None, version="legacy")
    server.offer.set(body)
    assert puller(None).pull() == "updated"
    p = puller(signers)
    assert p.pull() == "error"  # no If-None-Match: a 304 would hide that it is unsigned
    assert "If-None-Match" not in server.requests[-1].headers
    assert "unsigned" in meta(p, "bundle_refused") and installed(tmp_path) == body


def test_missing_ssh_keygen_refuses_with_a_clear_reason(tmp_path, server, puller, signers, alice):
    body = make_bundle(serial=1)
    server.offer.set(body, alice.sign(body))
    p = puller(signers, ssh_keygen=str(tmp_path / "no-such-ssh-keygen"))
    assert p.pull() == "error" and not (tmp_path / "bundle.json").exists()
    assert "no-such-ssh-keygen not found" in meta(p, "bundle_refused")


def test_hanging_ssh_keygen_is_cut_off_and_refuses(tmp_path, server, puller, signers, alice):
    stuck = tmp_path / "stuck-ssh-keygen"
    stuck.write_text("#!/bin/sh\nexec sleep 600\n")
    stuck.chmod(0o755)
    body = make_bundle(serial=1)
    server.offer.set(body, alice.sign(body))
    p = puller(signers, ssh_keygen=str(stuck), verify_timeout=0.5)
    assert p.pull() == "error" and not (tmp_path / "bundle.json").exists()
    assert "did not answer within 0.5s" in meta(p, "bundle_refused")


def test_unreadable_signers_file_refuses(tmp_path, server, puller, alice):
    body = make_bundle(serial=1)
    server.offer.set(body, alice.sign(body))
    p = puller(str(tmp_path / "gone"))
    assert p.pull() == "error" and "not readable" in meta(p, "bundle_refused")


# -- pure decisions ------------------------------------------------------------------------

@pytest.mark.parametrize("serial, version, last, last_version, expected", [
    (5, "b", None, None, None),               # first signed bundle: any serial
    (6, "b", 5, "a", None),                   # newer
    (5, "a", 5, "a", None),                   # the same bundle downloaded again
    (4, "b", 5, "a", "older than"),           # replayed old bundle
    (5, "b", 5, "a", "another version"),      # same serial, other rules
    (None, "b", None, None, "no serial"),     # unsigned-era bundle, signed anyway
    ("6", "b", 5, "a", "no serial"),          # a string is not a serial
    (True, "b", None, None, "no serial"),     # nor is a boolean
    (-1, "b", None, None, "no serial"),       # nor a negative number
])
def test_rollback_problem(serial, version, last, last_version, expected):
    bundle = {"version": version} if serial is None else {"version": version, "serial": serial}
    problem = bundle_sig.rollback_problem(bundle, last, last_version)
    assert (problem is None) if expected is None else (expected in problem)


@pytest.mark.parametrize("header, expected", [
    (None, "unsigned"),                                         # no header at all
    ("", "unsigned"),                                           # an empty one
    ("%%%not base64", "not base64"),                            # garbage
    (encode_signature(b"-----BEGIN PGP SIGNATURE-----\n"), "not an SSH signature"),
    ("A" * 40000, "too large"),                                 # bounded before decoding
])
def test_decode_signature_refuses(header, expected):
    with pytest.raises(bundle_sig.SignatureRefused, match=expected):
        bundle_sig.decode_signature(header)


@pytest.mark.parametrize("text, expected", [
    ("", "names no signer"),
    ("# only a comment\n\n", "names no signer"),
    ("alice@ops\n", "has no public key"),
    ("alice@ops AAAAC3NzaC1lZDI1NTE5AAAAIO\n", "has no public key"),
])
def test_read_signers_refuses_files_naming_no_key(tmp_path, text, expected):
    path = tmp_path / "signers"
    path.write_text(text)
    with pytest.raises(ValueError, match=expected):
        bundle_sig.read_signers(str(path))


# -- heartbeat and status ----------------------------------------------------------------------

def forwarder_config(tmp_path, url, **values):
    token = tmp_path / "token"
    token.write_text("tok-1\n")
    return build(dict({"host": "h1", "state_dir": str(tmp_path / "state"), "server_url": url,
                       "token_file": str(token),
                       "policy_bundle": str(tmp_path / "state" / "policy-bundle.json")}, **values))


def beat_after_pull(config, server):
    fwd = Forwarder(config, timeout=5, max_backoff=0.1).open()
    try:
        fwd.pull_bundle()
        fwd.heartbeat()
    finally:
        fwd.close()
    return server.posts("/api/v1/heartbeat")[-1].json()


def status(config_path):
    proc = subprocess.run([sys.executable, "-m", "hookshim.cli", "status", "--json",
                           "--config", str(config_path)], capture_output=True, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def write_config(tmp_path, config):
    from hookshim.config import render

    path = tmp_path / "hookshim.conf"
    path.write_text(render({k: v for k, v in config.as_dict().items()
                            if k in ("host", "state_dir", "policy_bundle", "policy_signers")}))
    return path


def test_heartbeat_and_status_report_a_refused_bundle(tmp_path, signers, alice):
    def handler(req):
        if req.path.endswith("/heartbeat"):
            return 200, {}, b'{"ok": true, "server_time": "now"}'
        return offer(req)

    offer = Offer()
    good = make_bundle(serial=5)
    offer.set(good, alice.sign(good))
    with ScriptedServer(handler) as server:
        config = forwarder_config(tmp_path, server.url, policy_signers=signers)
        beat = beat_after_pull(config, server)
        assert beat["bundle_signer"] == "alice@ops" and beat["bundle_refused"] is None
        assert beat["bundle_serial"] == 5 and beat["bundle_warning"] is None
        offer.set(make_bundle(serial=6))  # the server now offers an unsigned bundle
        beat = beat_after_pull(config, server)
    assert "unsigned" in beat["bundle_refused"] and beat["bundle_signer"] == "alice@ops"
    st = status(write_config(tmp_path, config))
    assert st["bundle_version"] == json.loads(good)["version"]
    assert st["bundle_refused"] == beat["bundle_refused"] and st["bundle_signer"] == "alice@ops"


def test_heartbeat_and_status_warn_when_no_signers_are_pinned(tmp_path):
    def handler(req):
        if req.path.endswith("/heartbeat"):
            return 200, {}, b'{"ok": true, "server_time": "now"}'
        return offer(req)

    offer = Offer()
    offer.set(make_bundle(serial=None, version="legacy"))
    with ScriptedServer(handler) as server:
        config = forwarder_config(tmp_path, server.url)
        beat = beat_after_pull(config, server)
    assert beat["bundle_warning"] == UNPINNED_WARNING and beat["bundle_refused"] is None
    st = status(write_config(tmp_path, config))
    assert st["bundle_version"] == "legacy" and st["bundle_warning"] == UNPINNED_WARNING


# -- install --policy-signers ---------------------------------------------------------------

def run_install(tmp_path, **options):
    from hookshim.install import install
    from tests.hookshim.fake_host import FakeHost
    from tests.hookshim.helpers import SYSTEM_PYTHON

    lines = []
    (tmp_path / "hooks").mkdir(exist_ok=True)
    code = install(["qemu"], str(tmp_path / "hooks"), str(tmp_path / "state"),
                   str(tmp_path / "hookshim.conf"), python=SYSTEM_PYTHON, out=lines.append,
                   libvirt_version="9.0.0", libvirt_daemon="libvirtd",
                   host=FakeHost(tmp_path / "host"), **options)
    return code, lines


def test_install_pins_the_signers_in_the_state_dir(tmp_path, signers):
    from hookshim.config import load_config

    code, lines = run_install(tmp_path, policy_signers=signers)
    assert code == 0, lines
    pinned = tmp_path / "state" / "allowed_signers"
    assert pinned.read_bytes() == open(signers, "rb").read()
    assert os.stat(pinned).st_mode & 0o777 == 0o644
    assert load_config(str(tmp_path / "hookshim.conf")).policy_signers == str(pinned)
    code, lines = run_install(tmp_path)  # a later install without the option keeps the pin
    assert load_config(str(tmp_path / "hookshim.conf")).policy_signers == str(pinned)


def test_install_refuses_a_signers_file_naming_no_key_and_changes_nothing(tmp_path):
    bad = tmp_path / "signers"
    bad.write_text("alice@ops\n")
    code, lines = run_install(tmp_path, policy_signers=str(bad))
    assert code == 1 and "--policy-signers" in lines[0] and "no public key" in lines[0]
    assert not (tmp_path / "hookshim.conf").exists() and not (tmp_path / "state").exists()
    assert os.listdir(tmp_path / "hooks") == []

"""Operator-signed bundles on the server: compile --serial, sign offline, publish; the server
serves exactly the signed bytes with the signature, and a host that pins the operator installs
them. The server never signs; publish refuses what hosts would refuse."""
import base64
import io
import json
import shutil

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.models import Base
from app.policy import published
from app.policy.cli import compile_command, publish_command
from hookshim.bundle_sig import SIGNATURE_HEADER
from hookshim.forward_bundle import BundlePuller
from hookshim.spool import Spool
from hookshim.transport import Response
from tests.fixtures_app import HostCred
from tests.forwarder.test_bundle_signing import Operator

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")

RULES = """
- id: no-hostdev-in-prod
  match: {op: [prepare], object: "prod-*"}
  mode: enforce
  deny_if: {exists: "./devices/hostdev"}
  message: "PCI passthrough is not allowed for production guests"
"""


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    (d / "rules.yaml").write_text(RULES)
    return d


@pytest.fixture
def papp(settings, policy_dir):
    app = create_app(settings.model_copy(update={"policy_dir": str(policy_dir)}))
    Base.metadata.create_all(app.state.db.engine)
    yield app
    app.state.db.dispose()


@pytest.fixture
def pclient(papp):
    with TestClient(papp) as c:
        yield c


@pytest.fixture
def phost(papp):
    from app.services import accounts

    with papp.state.db.session(write=True) as s:
        return HostCred("host-a", accounts.add_host(s, "host-a"))


@pytest.fixture
def alice(tmp_path):
    return Operator(tmp_path / "alice", "alice@ops")


@pytest.fixture
def signers(tmp_path, alice):
    path = tmp_path / "allowed_signers"
    path.write_text(alice.line)
    return path


def signed(tmp_path, policy_dir, operator, serial, name="bundle.json"):
    """compile --serial then ssh-keygen -Y sign, as the operator does offline: (bundle, sig)."""
    out = tmp_path / name
    assert compile_command(policy_dir, out, serial=serial, out=io.StringIO()) == 0
    sig = out.with_name(name + ".sig")
    sig.write_bytes(operator.sign(out.read_bytes()))
    return out, sig


class ClientTransport:
    """hookshim's Transport interface over the app's TestClient (with the host token)."""

    def __init__(self, client, host):
        self.client, self.host = client, host

    def request(self, method, path, body=None, headers=None):
        r = self.client.request(method, path, headers=self.host.headers | (headers or {}))
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


def test_published_bundle_is_served_byte_for_byte_and_a_pinned_host_installs_it(
        tmp_path, policy_dir, pclient, phost, alice, signers):
    bundle, sig = signed(tmp_path, policy_dir, alice, serial=10)
    assert publish_command(bundle, sig, policy_dir, signers) == 0
    r = pclient.get("/api/v1/policy-bundle", headers=phost.headers)
    assert r.status_code == 200 and r.content == bundle.read_bytes()
    assert base64.b64decode(r.headers[SIGNATURE_HEADER]) == sig.read_bytes()
    assert r.headers["etag"] == '"%s"' % json.loads(bundle.read_bytes())["version"]

    spool = Spool(str(tmp_path / "spool.db"))
    try:
        puller = BundlePuller(ClientTransport(pclient, phost), spool,
                              str(tmp_path / "host-bundle.json"), signers=str(signers))
        assert puller.pull() == "updated"
        assert spool.get_meta("bundle_signer") == "alice@ops"
        assert puller.pull() == "unchanged"
    finally:
        spool.close()
    assert (tmp_path / "host-bundle.json").read_bytes() == bundle.read_bytes()


def test_without_a_published_bundle_the_compiled_one_is_served_unsigned(pclient, phost):
    r = pclient.get("/api/v1/policy-bundle", headers=phost.headers)
    assert r.status_code == 200 and SIGNATURE_HEADER not in r.headers
    assert "serial" not in r.json()


def test_serial_is_inside_the_version(tmp_path, policy_dir):
    first, _ = signed(tmp_path, policy_dir, Operator(tmp_path / "op", "op"), serial=1, name="a")
    second, _ = signed(tmp_path, policy_dir, Operator(tmp_path / "op2", "op"), serial=2, name="b")
    a, b = json.loads(first.read_bytes()), json.loads(second.read_bytes())
    assert (a["serial"], b["serial"]) == (1, 2) and a["version"] != b["version"]


def test_publish_refuses_a_bundle_without_a_serial(tmp_path, policy_dir, alice, capsys):
    out = tmp_path / "bundle.json"
    compile_command(policy_dir, out, out=io.StringIO())
    sig = tmp_path / "bundle.json.sig"
    sig.write_bytes(alice.sign(out.read_bytes()))
    assert publish_command(out, sig, policy_dir) == 1
    assert "no serial" in capsys.readouterr().err
    assert not (policy_dir / published.PUBLISHED_NAME).exists()


def test_publish_refuses_a_signature_that_is_not_an_ssh_signature(tmp_path, policy_dir, alice,
                                                                  capsys):
    bundle, sig = signed(tmp_path, policy_dir, alice, serial=3)
    sig.write_text("-----BEGIN PGP SIGNATURE-----\n")
    assert publish_command(bundle, sig, policy_dir) == 1
    assert "not an SSH signature" in capsys.readouterr().err


def test_publish_with_allowed_signers_refuses_another_signer(tmp_path, policy_dir, signers,
                                                             capsys):
    bundle, sig = signed(tmp_path, policy_dir, Operator(tmp_path / "m", "mallory"), serial=3)
    assert publish_command(bundle, sig, policy_dir, signers) == 1
    assert "not in" in capsys.readouterr().err
    assert not (policy_dir / published.PUBLISHED_NAME).exists()


def test_publish_refuses_a_bundle_of_other_policies(tmp_path, policy_dir, alice, capsys):
    bundle, sig = signed(tmp_path, policy_dir, alice, serial=3)
    (policy_dir / "rules.yaml").write_text(RULES.replace("prod-*", "staging-*"))
    assert publish_command(bundle, sig, policy_dir) == 1
    assert "not compiled from the policies" in capsys.readouterr().err


def test_publish_refuses_a_hand_edited_bundle(tmp_path, policy_dir, alice, capsys):
    bundle, sig = signed(tmp_path, policy_dir, alice, serial=3)
    edited = json.loads(bundle.read_bytes()) | {"serial": 4}
    bundle.write_text(json.dumps(edited))
    assert publish_command(bundle, sig, policy_dir) == 1
    assert "does not match the content" in capsys.readouterr().err


def test_publish_refuses_a_serial_not_above_the_published_one(tmp_path, policy_dir, alice,
                                                              capsys):
    bundle, sig = signed(tmp_path, policy_dir, alice, serial=10, name="new.json")
    assert publish_command(bundle, sig, policy_dir) == 0
    assert publish_command(bundle, sig, policy_dir) == 0  # the same bundle again: harmless
    old, old_sig = signed(tmp_path, policy_dir, alice, serial=9, name="old.json")
    assert publish_command(old, old_sig, policy_dir) == 1
    assert "not above the published 10" in capsys.readouterr().err
    assert (policy_dir / published.PUBLISHED_NAME).read_bytes() == bundle.read_bytes()


def test_a_published_bundle_without_its_signature_answers_503(tmp_path, policy_dir, alice,
                                                             pclient, phost):
    bundle, sig = signed(tmp_path, policy_dir, alice, serial=3)
    assert publish_command(bundle, sig, policy_dir) == 0
    (policy_dir / (published.PUBLISHED_NAME + published.SIG_SUFFIX)).unlink()
    r = pclient.get("/api/v1/policy-bundle", headers=phost.headers)
    assert r.status_code == 503
    assert "incomplete" in r.json()["error"]["details"][0]["message"]


def test_the_cli_compiles_with_a_serial_and_publishes(tmp_path, policy_dir, alice, signers):
    from app.policy.cli import main

    out = tmp_path / "bundle.json"
    assert main(["policy", "compile", str(policy_dir), "-o", str(out), "--serial", "42"]) == 0
    assert json.loads(out.read_bytes())["serial"] == 42
    sig = tmp_path / "bundle.json.sig"
    sig.write_bytes(alice.sign(out.read_bytes()))
    assert main(["policy", "publish", str(out), str(policy_dir), "--signature", str(sig),
                 "--allowed-signers", str(signers)]) == 0
    assert (policy_dir / published.PUBLISHED_NAME).read_bytes() == out.read_bytes()

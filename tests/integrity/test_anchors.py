"""Signed anchors outside the database: Ed25519 keys (generate, rotate), signed checkpoints of
every host's chain head, signed exports; an auditor checks them with the public key alone."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from app.cli import main
from app.services import anchors
from hookshim.event import canonical_bytes, chain_hash
from tests.factories import make_chain, post_events
from tests.integrity.helpers import sql


@pytest.fixture
def key(tmp_path):
    path = str(tmp_path / "anchor.key")
    anchors.generate_key(path)
    return path


@pytest.fixture
def run(db_url, capsys):
    def run(*argv):
        code = main(["--database-url", db_url, *argv])
        out = capsys.readouterr()
        return code, out.out + out.err
    return run


def test_generate_writes_a_private_key_only_its_owner_reads_and_a_public_key(key):
    assert os.stat(key).st_mode & 0o777 == 0o600
    [kid] = anchors.load_public_keys(key + ".pub")
    assert kid == anchors.key_id(anchors.load_private(key).public_key())


def test_generate_refuses_to_overwrite_a_key(key):
    with pytest.raises(anchors.AnchorKeyError, match="keys rotate"):
        anchors.generate_key(key)


def test_rotation_keeps_old_signatures_verifiable(key):
    old = anchors.load_private(key)
    signed = anchors.sign(old, b"before")
    old_id, new_id = anchors.rotate_key(key)
    keys = anchors.load_public_keys(key + ".pub")
    assert set(keys) == {old_id, new_id} and os.path.exists(f"{key}.{old_id}.retired")
    assert anchors.check_signature(b"before", signed, keys) is None
    assert anchors.sign(anchors.load_private(key), b"after")["key_id"] == new_id


# (what is done to a signed checkpoint, the problem reported)
CHECKPOINT_TAMPERING = [
    (lambda d: d["hosts"]["host-a"].update(seq=1), "signature does not match"),
    (lambda d: d.update(created_at="2030-01-01T00:00:00.000000Z"), "signature does not match"),
    (lambda d: d["signature"].update(key_id="0" * 16), "not one of the given public keys"),
    (lambda d: d.pop("signature"), "not signed with Ed25519"),
    (lambda d: d.update(type="other"), "not a hookaudit checkpoint"),
]


@pytest.mark.parametrize(("tamper", "problem"), CHECKPOINT_TAMPERING)
def test_a_changed_checkpoint_fails_its_signature(key, tamper, problem):
    doc = anchors.checkpoint({"host-a": {"seq": 3, "hash": "a" * 64}}, anchors.load_private(key))
    keys = anchors.load_public_keys(key + ".pub")
    assert anchors.checkpoint_problems(doc, keys) == []
    tamper(doc)
    assert problem in " ".join(anchors.checkpoint_problems(doc, keys))


def test_a_key_made_by_someone_else_does_not_verify(key, tmp_path):
    other = str(tmp_path / "other.key")
    anchors.generate_key(other)
    doc = anchors.checkpoint({}, anchors.load_private(other))
    assert anchors.checkpoint_problems(doc, anchors.load_public_keys(key + ".pub"))


@pytest.fixture
def published(app, client, host_a, key, tmp_path, run):
    events = make_chain("host-a", 3)
    post_events(client, host_a, events)
    cp = str(tmp_path / "checkpoint.json")
    assert run("anchors", "publish", "--key", key, "-o", cp)[0] == 0
    with open(cp) as f:
        assert json.load(f)["hosts"] == {"host-a": {"seq": 3, "hash": events[2]["hash"]}}
    code, out = run("verify", "--checkpoint", cp, "--public-key", key + ".pub")
    assert code == 0, out
    return events, cp


def test_a_db_admin_rewriting_history_after_a_checkpoint_is_caught(app, published, key, run):
    events, cp = published
    forged = dict(events[2], outcome="aborted", exit_code=1)
    forged["hash"] = chain_hash(forged)   # consistent: hash, canonical, columns, host head
    sql(app.state.db, "UPDATE events SET outcome = 'aborted', exit_code = 1, hash = :h,"
                      " canonical = :c WHERE seq = 3", h=forged["hash"], c=canonical_bytes(forged))
    sql(app.state.db, "UPDATE hosts SET chain_head_hash = :h", h=forged["hash"])
    assert run("verify")[0] == 0   # nothing in the database contradicts the rewrite...
    code, out = run("verify", "--checkpoint", cp, "--public-key", key + ".pub")
    assert code == 2, out   # ...but the signed checkpoint does
    assert "host-a: store diverges from the host: the signed checkpoint holds seq 3" in out


def test_deleting_events_after_a_checkpoint_is_caught(app, published, key, run):
    _, cp = published
    sql(app.state.db, "DELETE FROM events WHERE seq = 3")
    code, out = run("verify", "--checkpoint", cp, "--public-key", key + ".pub")
    assert code == 2 and "store is behind" in out and "the store ends at seq 2" in out


def test_checkpoint_without_public_key_is_a_usage_error(published, run):
    assert run("verify", "--checkpoint", published[1])[0] == 1


@pytest.fixture
def signed_export(app, client, host_a, key, tmp_path, run):
    post_events(client, host_a, make_chain("host-a", 3))
    path = str(tmp_path / "audit.ndjson")
    assert run("export", "--since", "2026-01-01", "-o", path, "--sign-key", key)[0] == 0
    return path


def test_a_signed_export_verifies_offline_with_the_public_key_alone(signed_export, key, run):
    code, out = run("verify", "--export", signed_export, "--public-key", key + ".pub")
    assert code == 0, out
    assert "Ed25519 signature by key" in out and "checked" in out


def test_a_rewritten_and_rehashed_export_fails_the_signature(signed_export, key, run):
    """Whoever holds the server's secret can recompute digest and MAC, not the signature."""
    with open(signed_export, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    body, trailer = lines[:-2], json.loads(lines[-1])   # drop the newest event

    trailer["sha256"] = hashlib.sha256(b"".join(body)).hexdigest()
    trailer["events"] -= 1
    trailer["hosts"]["host-a"]["last_seq"] -= 1
    with open(signed_export, "wb") as f:
        f.write(b"".join(body) + json.dumps(trailer).encode() + b"\n")
    code, out = run("verify", "--export", signed_export, "--public-key", key + ".pub")
    assert code == 2 and "export signature does not match" in out


def test_an_unsigned_export_fails_when_a_signature_is_required(app, client, host_a, key,
                                                               tmp_path, run):
    post_events(client, host_a, make_chain("host-a", 1))
    path = str(tmp_path / "plain.ndjson")
    assert run("export", "--since", "2026-01-01", "-o", path)[0] == 0
    code, out = run("verify", "--export", path, "--public-key", key + ".pub")
    assert code == 2 and "not signed" in out


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="OpenSSH's ssh-keygen not found")
def test_the_key_is_an_openssh_key(key, tmp_path):
    """The same key can sign with `ssh-keygen -Y sign` (e.g. policy bundles, issue 13 §2)."""
    data = tmp_path / "data"
    data.write_text("x")
    subprocess.run(["ssh-keygen", "-Y", "sign", "-f", key, "-n", "hookaudit", str(data)],
                   check=True, capture_output=True)
    assert (tmp_path / "data.sig").exists()

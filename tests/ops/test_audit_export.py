"""The auditor export verifies offline, and every kind of tampering is detected."""

import json
from datetime import timedelta

import pytest

from app.services.audit_export import export, verify_export
from tests.factories import post_events
from tests.ops.seed import NOW, chain

SECRET = "test-secret-key-not-for-production"


@pytest.fixture
def export_file(app, client, host_a, host_b, tmp_path):
    for host in (host_a, host_b):
        events = chain(host.name, [{"age_days": 2, "object": f"g{i % 3}"} for i in range(25)])
        assert post_events(client, host, events).status_code == 200
    path = tmp_path / "audit.ndjson"
    with open(path, "wb") as f:
        export(app.state.db, f, NOW - timedelta(days=7), NOW, secret=SECRET)
    return path


def lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_a_fresh_export_verifies_with_and_without_the_secret(export_file):
    report = verify_export(export_file, SECRET)
    assert report["ok"] and report["events"] == 50 and report["mac_checked"]
    assert set(report["hosts"]) == {"host-a", "host-b"}
    assert verify_export(export_file)["ok"] and not verify_export(export_file)["mac_checked"]


def _edit_reason(ls):
    ev = json.loads(ls[5])
    ev["event"]["reason"] = "nothing to see"
    ls[5] = json.dumps(ev).encode() + b"\n"


def _swap_xml(ls):
    ev = json.loads(ls[3])
    ev["event"]["xml"] = ev["event"]["xml"].replace("<description>", "<description>x")
    ls[3] = json.dumps(ev).encode() + b"\n"


def _rehash_trailer(ls):
    """A forger who fixes the digest but has no secret key."""
    import hashlib

    body = b"".join(ls[:-1])
    trailer = json.loads(ls[-1])
    trailer["sha256"] = hashlib.sha256(body).hexdigest()
    ls[-1] = json.dumps(trailer).encode() + b"\n"


@pytest.mark.parametrize(
    "tamper, expect",
    [
        (_edit_reason, "hash does not match"),  # an event's field edited
        (_swap_xml, "xml_sha256 does not match"),  # an XML body swapped
        (lambda ls: ls.pop(7), "jumps from seq 6 to 8"),  # an event removed
        (lambda ls: ls.pop(), "truncated"),  # trailer cut off
        (lambda ls: ls.insert(4, ls[4]), "trailer"),  # an event duplicated
    ],
)
def test_tampering_is_detected(export_file, tamper, expect):
    ls = lines(export_file)
    tamper(ls)
    export_file.write_bytes(b"".join(ls))
    report = verify_export(export_file, SECRET)
    assert not report["ok"]
    assert any(expect in p for p in report["problems"] + report["warnings"]), report


def test_a_recomputed_digest_without_the_key_fails_the_mac(export_file):
    ls = lines(export_file)
    _edit_reason(ls)
    _rehash_trailer(ls)
    export_file.write_bytes(b"".join(ls))
    report = verify_export(export_file, SECRET)
    assert any("MAC" in p for p in report["problems"])


def test_export_and_verify_through_the_cli(
    app, client, host_a, db_url, tmp_path, capsys, monkeypatch
):
    from app.cli import main

    monkeypatch.setenv("HOOKAUDIT_SECRET_KEY", SECRET)
    assert post_events(client, host_a, chain(host_a.name, [{"age_days": 1}] * 5)).status_code == 200
    out = tmp_path / "x.ndjson"
    since = (NOW - timedelta(days=3)).isoformat()
    assert main(["--database-url", db_url, "export", "--since", since, "-o", str(out)]) == 0
    assert main(["verify", "--export", str(out)]) == 0
    assert "5 events, ok; MAC verified" in capsys.readouterr().out
    out.write_bytes(out.read_bytes().replace(b'"seq":3', b'"seq":33', 1))
    assert main(["verify", "--export", str(out)]) == 2

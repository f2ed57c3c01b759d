"""Server side of the rollout: the zipapp at a stable URL with its SHA-256, the one-line host
install, the fleet's shim versions, and the fleet metrics the alerts and dashboard use."""
import hashlib
import io
import json
import subprocess
import sys
import zipfile

import pytest

import hookshim
from app.services.shim_release import install_line, is_behind, version_key
from tests.conftest import REPO
from tests.factories import make_chain, post_events
from tests.fixtures_app import METRICS_HEADERS

VERSION = hookshim.__version__


def heartbeat(client, host, **fields):
    body = {"host": host.name, **fields}
    assert client.post("/api/v1/heartbeat", json=body, headers=host.headers).status_code == 200


def test_zipapp_is_served_with_its_sha256_and_equals_the_dist_build(client, tmp_path):
    meta = client.get("/api/v1/shim").json()
    resp = client.get("/api/v1/shim/hookshim.pyz")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert hashlib.sha256(resp.content).hexdigest() == meta["sha256"]
    assert meta["version"] == VERSION and meta["url"].endswith("/api/v1/shim/hookshim.pyz")
    subprocess.run([sys.executable, str(REPO / "scripts" / "build_dist.py"), "--no-deb",
                    "--dist", str(tmp_path)], check=True, capture_output=True)
    assert (tmp_path / "hookshim.pyz").read_bytes() == resp.content
    with zipfile.ZipFile(io.BytesIO(resp.content)) as zf:
        assert "hookshim/hook.py" in zf.namelist()


def test_zipapp_checksum_file_and_etag(client):
    sha = client.get("/api/v1/shim").json()["sha256"]
    assert client.get("/api/v1/shim/hookshim.pyz.sha256").text == f"{sha}  hookshim.pyz\n"
    again = client.get("/api/v1/shim/hookshim.pyz", headers={"If-None-Match": f'"{sha}"'})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("version, server, behind", [
    (None, "0.2.0", True),          # never reported a version: treat as behind
    ("0.1.9", "0.2.0", True),
    ("0.2.0", "0.2.0", False),
    ("0.10.0", "0.9.3", False),     # numbers, not strings: 10 > 9
    ("0.9.3", "0.10.0", True),
    ("0.2.0+local", "0.2.0", False),
])
def test_is_behind_compares_versions_numerically(version, server, behind):
    assert is_behind(version, server) is behind


def test_version_key_orders_unknown_first():
    assert sorted(["0.10.0", None, "0.9.1"], key=version_key) == [None, "0.9.1", "0.10.0"]


def test_install_line_downloads_checks_and_installs_with_the_token():
    line = install_line("https://audit.example.net/", ["libxl", "qemu"], "ab" * 32, "hk_x'y")
    assert line.startswith("curl -fsSLo /tmp/hookshim.pyz "
                           "https://audit.example.net/api/v1/shim/hookshim.pyz && ")
    assert f"echo '{'ab' * 32}  /tmp/hookshim.pyz' | sha256sum -c --quiet -" in line
    assert "printf '%s\\n' 'hk_x'\"'\"'y' > /etc/hookshim/token" in line   # quoted safely
    assert ("python3 -I /tmp/hookshim.pyz install --server https://audit.example.net "
            "--token-file /etc/hookshim/token libxl qemu && systemctl daemon-reload && "
            "systemctl enable hookshim-forward.service && "
            "systemctl restart hookshim-forward.service") in line


def test_install_line_checksum_step_refuses_another_file(tmp_path):
    """The line's verification really stops a tampered download (run with sh)."""
    good = b"the real zipapp"
    line = install_line("http://x", ["libxl"], hashlib.sha256(good).hexdigest())
    check = line.split(" && ")[1].replace("/tmp/hookshim.pyz", str(tmp_path / "z.pyz"))
    (tmp_path / "z.pyz").write_bytes(good)
    assert subprocess.run(["sh", "-c", check], capture_output=True).returncode == 0
    (tmp_path / "z.pyz").write_bytes(b"tampered")
    assert subprocess.run(["sh", "-c", check], capture_output=True).returncode != 0


def test_fleet_versions_lists_hosts_behind_the_server(client, admin, make_host):
    old, new = make_host("dom0-old"), make_host("dom0-new")
    make_host("dom0-silent")   # registered, never heard from
    heartbeat(client, old, shim_version="0.0.9")
    heartbeat(client, new, shim_version=VERSION)
    data = admin.client.get("/api/v1/fleet/versions").json()
    assert data["server_version"] == VERSION
    assert {(v["version"], v["hosts"]) for v in data["versions"]} == {
        (VERSION, 1), ("0.0.9", 1), (None, 1)}
    assert data["behind"] == [{"host": "dom0-old", "shim_version": "0.0.9"},
                              {"host": "dom0-silent", "shim_version": None}]
    assert client.get("/api/v1/fleet/versions").status_code == 401


def test_hosts_behind_filter_lists_the_same_hosts_as_the_fleet_view(app, client, admin,
                                                                       make_host):
    from app.services import accounts

    old, new, gone = make_host("dom0-old"), make_host("dom0-new"), make_host("dom0-gone")
    make_host("dom0-silent")   # never reported a version: behind
    heartbeat(client, old, shim_version="0.0.9")
    heartbeat(client, new, shim_version=VERSION)
    heartbeat(client, gone, shim_version="0.0.1")
    with app.state.db.session(write=True) as s:
        accounts.revoke_host(s, "dom0-gone")   # revoked: out of the fleet, not behind
    every = admin.client.get("/api/v1/hosts").json()
    assert {h["name"]: h["shim_behind"] for h in every} == {
        "dom0-gone": False, "dom0-new": False, "dom0-old": True, "dom0-silent": True}
    behind = admin.client.get("/api/v1/hosts?behind=true").json()
    fleet = admin.client.get("/api/v1/fleet/versions").json()["behind"]
    assert [h["name"] for h in behind] == [b["host"] for b in fleet] == ["dom0-old",
                                                                          "dom0-silent"]
    assert admin.client.get("/api/v1/hosts?behind=maybe").status_code == 422
    assert admin.client.get("/api/v1/hosts/dom0-old").json()["shim_behind"] is True


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_metrics_export_backlog_versions_and_aborts_per_host(client, host_a, host_b):
    events = make_chain("host-a", 3, outcome="aborted", exit_code=1)
    assert post_events(client, host_a, events).status_code == 200
    heartbeat(client, host_a, shim_version="0.0.9", spool_depth=42, oldest_unsent_age_s=120.5,
              parked=3)
    heartbeat(client, host_b, shim_version=VERSION, spool_depth=0)
    text = client.get("/metrics", headers=METRICS_HEADERS).text
    assert metric(text, "hookaudit_host_spool_depth", host="host-a") == 42
    assert metric(text, "hookaudit_host_oldest_unsent_age_seconds", host="host-a") == 120.5
    assert metric(text, "hookaudit_host_parked_events", host="host-a") == 3
    assert metric(text, "hookaudit_shim_hosts", version="0.0.9") == 1
    assert metric(text, "hookaudit_shim_hosts", version=VERSION) == 1
    assert metric(text, "hookaudit_shim_server_version_info", version=VERSION) == 1
    assert metric(text, "hookaudit_shim_hosts_behind") == 1
    assert metric(text, "hookaudit_host_aborts_total", host="host-a", outcome="aborted") == 3


def test_cli_install_line_issues_a_token_that_ingest_accepts(settings, app, client,
                                                             monkeypatch, capsys):
    from app import cli

    monkeypatch.setenv("HOOKAUDIT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HOOKAUDIT_SECRET_KEY", settings.secret_key)
    assert cli.main(["shim", "install-line", "dom0-7", "--server", "https://a.example",
                     "--driver", "qemu", "--new-token"]) == 0
    line = capsys.readouterr().out.strip()
    token = line.split("printf '%s\\n' ", 1)[1].split(" ", 1)[0].strip("'")
    assert "--token-file /etc/hookshim/token qemu && systemctl" in line
    sha = client.get("/api/v1/shim").json()["sha256"]
    assert sha in line
    ok = client.post("/api/v1/heartbeat", json={"host": "dom0-7"},
                     headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200, json.dumps(ok.json())

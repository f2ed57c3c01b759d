"""A bounded real demo run: `hookaudit demo` with 3 hosts for a few seconds, then the API.

Real everything: the installed launchers called as libvirtd calls them, the shim's spools, the
forwarders, the server under uvicorn, the example policies. Afterwards the store is read back
through the API (a fresh app on the demo's SQLite file).
"""
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.demo.corpus import first_mac
from app.demo.fleet import DENIED_GUEST, LEGACY_GUEST
from app.demo.store import Credentials, repo_env
from app.main import create_app

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Run the demo once (3 hosts, 8 guests, seed 1) and hand back its state dir and output."""
    state = tmp_path_factory.mktemp("demo") / "state"
    argv = [sys.executable, "-m", "app.cli", "demo", "--dir", str(state), "--hosts", "3",
            "--guests", "8", "--port", "0", "--duration", "4", "--burst", "16", "--rate", "5",
            "--seed", "1"]
    proc = subprocess.run(argv, cwd=REPO, env=repo_env(), capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return state, proc.stdout


@pytest.fixture(scope="module")
def api(demo_run):
    state, _ = demo_run
    creds = Credentials.load(state / "demo.json")
    app = create_app(Settings(database_url=creds.db_url))
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {creds.admin_token}"
        yield client


@pytest.fixture(scope="module")
def events(api):
    """Every stored event, oldest first, through the paginated events API."""
    out, cursor = [], None
    while True:
        r = api.get("/api/v1/events", params={"order": "asc", "limit": 500,
                                               **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        out += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            return out


def test_demo_prints_the_url_and_a_login_and_ends_with_nothing_unsent(demo_run):
    _, out = demo_run
    assert "dashboard  http://127.0.0.1:" in out
    assert "login      admin / " in out
    assert "0 events left unsent" in out


def test_every_host_delivered_a_gapless_sequence(events):
    seqs = defaultdict(list)
    for e in events:
        seqs[e["host"]].append(e["seq"])
    assert set(seqs) == {"dom0-rack7-01", "dom0-rack7-02", "kvm-01"}
    for host, got in seqs.items():
        assert sorted(got) == list(range(1, len(got) + 1)), host
    assert all(e["chain_ok"] for e in events)


def test_libvirtd_start_is_recorded_first_on_every_host(events):
    firsts = {}
    for e in sorted(events, key=lambda e: e["seq"]):
        firsts.setdefault(e["host"], e)
    assert {(e["driver"], e["object"], e["op"], e["extra"]) for e in firsts.values()} == {
        ("daemon", "-", "start", "start")}


def test_prod_guest_with_hostdev_is_refused_by_policy(events):
    denied = [e for e in events if e["object"] == DENIED_GUEST and e["op"] == "prepare"]
    assert denied and all(e["outcome"] == "aborted" and e["exit_code"] != 0 for e in denied)
    assert "PCI passthrough" in denied[0]["reason"]
    # libxl: a refused prepare is not followed by start/started for that attempt
    assert not [e for e in events if e["object"] == DENIED_GUEST and e["op"] == "started"]


def test_crashing_adopted_script_aborts_the_legacy_guest(events):
    crashed = [e for e in events if e["object"] == LEGACY_GUEST and e["op"] == "prepare"]
    assert crashed and all(e["outcome"] == "aborted" for e in crashed)
    assert crashed[0]["host"] == "dom0-rack7-02"


def test_stop_calls_follow_libvirt_argv(events):
    xen = {(e["op"], e["subop"], e["extra"]) for e in events if e["driver"] == "libxl"}
    assert {("stopped", "end", "-"), ("release", "end", "-")} <= xen
    kvm_release = {e["extra"] for e in events if e["driver"] == "qemu" and e["op"] == "release"}
    assert kvm_release and kvm_release <= {"shutdown", "destroyed", "migrated", "saved", "failed"}


def test_migration_is_stitched_across_hosts_with_the_disk_rewrite(api, events):
    moves = [e for e in events if e["op"] == "migrate" and e["outcome"] == "ok"]
    assert moves
    stitched = []
    for m in moves:
        r = api.get(f"/api/v1/guests/{m['domain_uuid']}/timeline")
        assert r.status_code == 200, r.text
        boots = r.json()["boots"]
        stitched += [b for b in boots if b["via"] == "migration" and b["migrated_from"] is not None
                     and boots[b["migrated_from"]]["host"] != b["host"]]
    assert stitched
    rewritten = [e for e in moves if e["output_xml_sha256"]]
    assert rewritten, "no incoming migration was rewritten by the example move-images policy"
    detail = api.get(f"/api/v1/events/{rewritten[0]['event_id']}").json()
    assert "/srv/images/" in detail["output_xml"] and "/var/lib/xen/images/" in detail["xml"]


def test_demo_leaves_no_process_running(demo_run):
    state, _ = demo_run
    server_pid = int((state / "server.pid").read_text())
    assert not Path(f"/proc/{server_pid}").exists()
    leftovers = []     # any process still using the state dir (a hook, a forwarder, a server)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(state) in cmdline or cwd.startswith(str(state)):
            leftovers.append(cmdline)
    assert leftovers == []


def test_one_host_has_a_long_outage_and_another_stays_offline(demo_run):
    _, out = demo_run
    assert "dom0-" in out and "goes offline for 180 s" in out     # back only at the drain here
    assert "stays offline: stale on the hosts page" in out


def test_server_log_shows_the_requests(demo_run):
    state, _ = demo_run
    log = (state / "server.log").read_text()
    assert '"POST /api/v1/ingest HTTP/1.1" 200' in log and '"GET /healthz HTTP/1.1" 200' in log


@pytest.fixture(scope="module")
def scenes(demo_run, api):
    """The facts scenes' cast (from the demo's output), their guests, and the facts pass run
    over the demo's store (``catch_up``: whatever the server's own pass had not done yet)."""
    from app.db import Database
    from app.demo.corpus import load_templates
    from app.demo.fleet import build_fleet
    from app.services.facts_pass import catch_up

    state, out = demo_run
    cast = {}
    for pattern, roles in ((r"scene: (\S+) boots with the MAC (\S+) had", ("mac_new", "mac_old")),
                           (r"scene: (\S+) boots with (\S+)'s MAC", ("dup_b", "dup_a")),
                           (r"scene: (\S+) reboots with twice the memory", ("memory",))):
        m = re.search(pattern, out)
        assert m, f"no scene {pattern!r} in the demo's output:\n{out}"
        cast.update(zip(roles, m.groups()))
    db = Database(Credentials.load(state / "demo.json").db_url)
    try:
        catch_up(db)
    finally:
        db.dispose()
    fleet = build_fleet(1, 3, 8, load_templates())   # the demo's fleet: same seed and sizes
    return {role: fleet.guest(name) for role, name in cast.items()}


def test_scene_a_reused_mac_lists_both_guests_one_after_the_other(api, scenes):
    old, new = scenes["mac_old"], scenes["mac_new"]
    r = api.get("/api/v1/attribution", params={"mac": first_mac(old.xml),
                                               "since": "2000-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    by_guest = defaultdict(list)
    for h in r.json()["holders"]:
        by_guest[h["guest"]].append(h)
    assert set(by_guest) == {old.uuid, new.uuid}
    # every stay of the first holder ended before any stay of the second began
    for a in by_guest[old.uuid]:
        for b in by_guest[new.uuid]:
            assert a["end"] is not None and a["end"] <= b["start"], (a, b)


def test_scene_a_duplicate_mac_starts_and_ends(api, scenes):
    a, b = scenes["dup_a"], scenes["dup_b"]
    r = api.get("/api/v1/conflicts", params={"kind": "mac"})
    assert r.status_code == 200, r.text
    mine = [c for c in r.json()["conflicts"] if c["key"] == first_mac(a.xml)]
    assert len(mine) == 1, r.json()
    c = mine[0]
    assert {g["guest"] for g in c["guests"]} == {a.uuid, b.uuid}
    assert c["scope"] and c["start"] and c["end"] and c["start"] < c["end"]
    assert not c["ongoing"]


def test_scene_memory_changes_between_two_boots(api, scenes):
    e = scenes["memory"]
    r = api.get(f"/api/v1/guests/{e.uuid}/changes")
    assert r.status_code == 200, r.text
    changes = r.json()["changes"]
    assert [c for c in changes if "memory" in c["categories"]], changes

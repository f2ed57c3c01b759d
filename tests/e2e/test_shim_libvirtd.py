"""The shim, installed by `hookshim install`, answering a real libvirtd 9.0.0.

One daemon for the module: a legacy `qemu` hook already on the "host" is adopted by the install,
then the daemon starts (hooks are discovered at start). Policies are swapped per test by writing
the compiled bundle the hook reads on every call.
"""
import textwrap

import pytest

from hookshim.event import GENESIS_HASH, verify_event
from tests.e2e.harness import guest_xml, network_xml, wait_for
from tests.e2e.server import Server
from tests.e2e.shim import HOST, Shim, calls, forward, forwarder_daemon, hookshim

pytestmark = [pytest.mark.libvirt, pytest.mark.slow]

NET = "hke-net"
# What the host had before hookaudit: refuses one guest, logs every call.
LEGACY_HOOK = """#!/bin/sh
echo "$*" >> {log}
case "$1:$2" in
  hke-legacy-deny:prepare) echo "legacy hook: $1 is not allowed on this host" >&2; exit 1;;
esac
exit 0
"""


@pytest.fixture(scope="module")
def shim_libvirt(private_libvirt):
    lv = private_libvirt
    lv.reset()
    legacy = lv.hooks_dir / "qemu"
    legacy.write_text(LEGACY_HOOK.format(log=lv.root / "legacy.log"))
    legacy.chmod(0o755)
    shim = Shim(lv)
    shim.install()
    lv.start()
    lv.define_network(network_xml(NET))
    lv.ok("net-start", NET)
    yield lv, shim
    lv.virsh("net-destroy", NET)
    lv.virsh("net-undefine", NET)
    lv.reset()


@pytest.fixture
def policies(shim_libvirt, tmp_path):
    """Write YAML policies and compile them into the hook's bundle; removed after the test."""
    _, shim = shim_libvirt

    def apply(yaml_text):
        (tmp_path / "e2e.yaml").write_text(textwrap.dedent(yaml_text))
        return shim.set_policies(tmp_path)

    yield apply
    shim.clear_policies()


def boot(lv, shim, name, **xml):
    """Define ``name``, forget older events, start it; returns the virsh result."""
    lv.define(guest_xml(name, **xml))
    shim.skip_to_now()
    return lv.virsh("start", name)


def test_start_and_destroy_are_recorded_in_order_with_real_xml_and_a_valid_chain(shim_libvirt):
    lv, shim = shim_libvirt
    assert boot(lv, shim, "hke-boot").returncode == 0
    lv.ok("destroy", "hke-boot")
    events = shim.new_events()
    assert calls(events) == [("qemu", "hke-boot", op, sub, "-") for op, sub in (
        ("prepare", "begin"), ("start", "begin"), ("started", "begin"),
        ("stopped", "end"), ("release", "end"))]
    uuid = lv.ok("domuuid", "hke-boot").strip()
    for ev in events:
        assert (ev["outcome"], ev["exit_code"], ev["domain_uuid"]) == ("ok", 0, uuid)
        assert "<name>hke-boot</name>" in ev["xml"] and f"<uuid>{uuid}</uuid>" in ev["xml"]
        assert [s["exit_code"] for s in ev["scripts"]] == [0], "the adopted legacy hook ran"
    assert "hke-boot prepare begin -" in (lv.root / "legacy.log").read_text()
    every = shim.events()
    previous = GENESIS_HASH
    for ev in every:
        assert verify_event(ev, previous) == []
        previous = ev["hash"]


def test_policy_deny_fails_virsh_start_with_the_rules_one_line_reason(shim_libvirt, policies):
    lv, shim = shim_libvirt
    policies("""
        - id: require-description
          match: {op: [prepare], object: "hke-*"}
          mode: enforce
          deny_if: {not: {exists: "./description"}}
          message: "every guest needs a <description> (ticket OPS-7)"
    """)
    proc = boot(lv, shim, "hke-nodesc")
    assert proc.returncode != 0
    assert "every guest needs a <description> (ticket OPS-7)" in proc.stderr
    assert lv.state("hke-nodesc") == "shut off"
    events = shim.new_events()
    assert [e["op"] for e in events] == ["prepare", "stopped", "release"]
    prepare = events[0]
    assert prepare["outcome"] == "aborted" and prepare["exit_code"] != 0
    assert "every guest needs a <description>" in prepare["reason"]
    decisions = prepare["policy"]["decisions"]
    assert [(d["rule_id"], d["verdict"]) for d in decisions] == [("require-description", "deny")]
    assert prepare["scripts"] == [], "a policy deny refuses before the adopted scripts run"
    # with a description the same rule lets it start
    assert boot(lv, shim, "hke-described", description="web frontend").returncode == 0
    lv.ok("destroy", "hke-described")


def test_a_failing_adopted_hook_script_aborts_the_start_with_its_stderr(shim_libvirt):
    lv, shim = shim_libvirt
    proc = boot(lv, shim, "hke-legacy-deny")
    assert proc.returncode != 0
    assert "legacy hook: hke-legacy-deny is not allowed on this host" in proc.stderr
    assert lv.state("hke-legacy-deny") == "shut off"
    events = shim.new_events()
    assert [e["op"] for e in events] == ["prepare", "stopped", "release"]
    prepare = events[0]
    assert prepare["outcome"] == "aborted"
    [script] = prepare["scripts"]
    assert script["exit_code"] == 1 and "not allowed on this host" in script["stderr"]


def test_a_script_dropped_into_qemu_d_after_install_runs_behind_the_shim_and_is_flagged(
        shim_libvirt):
    lv, shim = shim_libvirt
    dropped_dir = lv.hooks_dir / "qemu.d"
    dropped_dir.mkdir(exist_ok=True)
    dropped, ran = dropped_dir / "50-late", lv.root / "late.log"
    dropped.write_text(f'#!/bin/sh\necho "$1 $2" >> {ran}\n')
    dropped.chmod(0o755)
    try:
        assert boot(lv, shim, "hke-late").returncode == 0
        lv.ok("destroy", "hke-late")
    finally:
        dropped.unlink()
        dropped_dir.rmdir()
    assert "hke-late prepare" in ran.read_text(), "libvirt itself ran the dropped script"
    events = shim.new_events()
    assert len(events) == 5
    for ev in events:
        assert any("unmanaged hook script" in w and str(dropped) in w for w in ev["warnings"])
        assert len(ev["scripts"]) == 1, "the shim runs only what it adopted"


def test_a_guest_on_a_network_records_port_created_and_port_deleted(shim_libvirt):
    lv, shim = shim_libvirt
    assert boot(lv, shim, "hke-nic", network=NET).returncode == 0
    lv.ok("destroy", "hke-nic")
    events = shim.new_events()
    assert [(e["driver"], e["op"]) for e in events] == [
        ("qemu", "prepare"), ("network", "port-created"), ("qemu", "start"),
        ("qemu", "started"), ("qemu", "stopped"), ("network", "port-deleted"),
        ("qemu", "release")]
    for port in (events[1], events[5]):
        assert port["object"] == NET and port["outcome"] == "ok"
        assert "<networkport>" in port["xml"] and "<name>hke-nic</name>" in port["xml"]


def test_daemon_restart_with_a_running_guest_records_shutdown_start_and_reconnect(shim_libvirt):
    lv, shim = shim_libvirt
    assert boot(lv, shim, "hke-keep").returncode == 0
    shim.skip_to_now()
    lv.restart()
    # reconnect runs in a per-guest thread: it may come after the daemon already answers
    events = []
    assert wait_for(lambda: len(events.extend(shim.new_events()) or events) >= 3)
    assert calls(events) == [
        ("daemon", "-", "shutdown", "-", "shutdown"),
        ("daemon", "-", "start", "-", "start"),
        ("qemu", "hke-keep", "reconnect", "begin", "-"),
    ]
    assert all(e["outcome"] == "ok" for e in events)
    assert lv.state("hke-keep") == "running"
    lv.ok("destroy", "hke-keep")


def test_restore_filter_rewrite_is_the_definition_libvirt_runs(shim_libvirt, policies):
    lv, shim = shim_libvirt
    old, new = lv.root / "images-old", lv.root / "images-new"
    for d in (old, new):
        d.mkdir(exist_ok=True)
        (d / "disk.img").write_bytes(b"\0" * (1 << 20))
    policies(f"""
        - id: move-images
          match: {{op: [restore]}}
          mutate:
            - replace_prefix: {{path: "./devices/disk/source", attribute: file,
                               from: "{old}/", to: "{new}/"}}
    """)
    assert boot(lv, shim, "hke-save", disk=old / "disk.img").returncode == 0
    image = lv.root / "hke-save.save"
    lv.ok("save", "hke-save", str(image))
    shim.skip_to_now()
    lv.ok("restore", str(image))
    image.unlink()
    assert f"<source file='{new}/disk.img'" in lv.ok("dumpxml", "hke-save")
    assert any(f"{new}/disk.img" in arg for arg in lv.qemu_cmdline("hke-save"))
    assert not any(f"{old}/disk.img" in arg for arg in lv.qemu_cmdline("hke-save"))
    events = shim.new_events()
    assert [e["op"] for e in events] == ["restore", "prepare", "start", "started"]
    restore = events[0]
    assert f"{old}/disk.img" in restore["xml"] and f"{new}/disk.img" in restore["output_xml"]
    assert [d["verdict"] for d in restore["policy"]["decisions"]] == ["mutate"]
    assert f"{new}/disk.img" in events[1]["xml"], "prepare sees the rewritten definition"
    lv.ok("destroy", "hke-save")


def test_the_forwarder_ships_every_event_and_the_api_shows_boots_and_the_denial(shim_libvirt,
                                                                              policies, tmp_path):
    lv, shim = shim_libvirt
    policies("""
        - id: frozen-guest
          match: {op: [prepare], object: "hke-ship-frozen"}
          mode: enforce
          deny_if: {exists: "./name"}
          message: "hke-ship-frozen is frozen for the audit"
    """)
    assert boot(lv, shim, "hke-ship-frozen").returncode != 0
    lv.define(guest_xml("hke-ship"))
    for _ in range(2):
        lv.ok("start", "hke-ship")
        lv.ok("destroy", "hke-ship")
    uuid = lv.ok("domuuid", "hke-ship").strip()
    server = Server(tmp_path, HOST).start()
    try:
        proc = forward(shim, server)
        assert proc.returncode == 0, proc.stderr
        spooled = shim.events()
        host = server.get(f"/api/v1/hosts/{HOST}")
        timeline = server.get(f"/api/v1/guests/{uuid}/timeline")
        aborts = server.get("/api/v1/aborts")["items"]
        denied = next(a for a in aborts if a["object"] == "hke-ship-frozen")
        detail = server.get(f"/api/v1/events/{denied['event_id']}")
    finally:
        server.stop()
    assert host["events_count"] == len(spooled) == host["last_seq"]
    assert (host["chain_status"], host["open_gaps"]) == ("ok", [])
    assert [(b["via"], b["status"], b["host"]) for b in timeline["boots"]] == [
        ("start", "ended", HOST)] * 2
    for b in timeline["boots"]:
        assert [e["op"] for e in b["events"]] == [
            "prepare", "start", "started", "stopped", "release"]
    assert (denied["op"], denied["outcome"]) == ("prepare", "aborted")
    assert "hke-ship-frozen is frozen for the audit" in denied["reason"]
    assert "<name>hke-ship-frozen</name>" in detail["xml"]
    assert [(d["rule_id"], d["verdict"]) for d in detail["decisions"]] == [("frozen-guest", "deny")]


def test_with_the_forwarder_running_libvirtds_calls_are_handed_over_and_delivered(
        shim_libvirt, tmp_path):
    """The production layout: `hookshim forward` runs beside libvirtd. Every hook call of a
    start, a destroy and a start the adopted legacy hook refuses hands its event over the
    forwarder's socket (no call writes the spool itself: the direct write's queue directory
    is never made), virsh still shows the refusal, and the server receives every event
    once. (The forwarder syncs the policy bundle from the server, which has none here.)"""
    import signal

    from hookshim.spool import Spool
    from hookshim.spool_group import QUEUE

    lv, shim = shim_libvirt
    server = Server(tmp_path, HOST).start()
    queue = shim.state_dir / QUEUE
    if queue.exists():
        queue.rmdir()          # made by the daemon's own calls before; empty once they ended
    fwd = None

    def unsent():
        with Spool(str(shim.state_dir / "spool.db")) as sp:
            return sp.stats()["depth"]
    try:
        fwd = forwarder_daemon(shim, server)
        shim.skip_to_now()
        if "hke-legacy-deny" not in lv.ok("list", "--all", "--name").split():
            lv.define(guest_xml("hke-legacy-deny"))      # else: an earlier test's, on this daemon
        refused = lv.virsh("start", "hke-legacy-deny")
        assert refused.returncode != 0 and "is not allowed on this host" in refused.stderr
        lv.define(guest_xml("hke-hand"))
        lv.ok("start", "hke-hand")
        lv.ok("destroy", "hke-hand")
        mine = shim.new_events()
        assert not queue.exists()
        assert wait_for(lambda: unsent() == 0, 60), "the forwarder did not deliver"
        stored = [server.get(f"/api/v1/events/{e['event_id']}") for e in mine]
        host = server.get(f"/api/v1/hosts/{HOST}")
        fwd.send_signal(signal.SIGTERM)
        assert fwd.wait(30) == 0
        fwd = None
    finally:
        if fwd is not None:
            fwd.kill()
            fwd.wait()
        server.stop()
    assert host["chain_status"] == "ok"   # (earlier tests' events went to another server)
    assert [(e["seq"], e["hash"]) for e in stored] == [(e["seq"], e["hash"]) for e in mine]
    ops = [(e["object"], e["op"], e["outcome"]) for e in mine if e["driver"] == "qemu"]
    assert ("hke-legacy-deny", "prepare", "aborted") in ops
    assert [op for obj, op, _ in ops if obj == "hke-hand"] == [
        "prepare", "start", "started", "stopped", "release"]


def test_uninstall_puts_the_legacy_hook_back_and_libvirt_runs_it_directly(shim_libvirt):
    lv, shim = shim_libvirt
    hookshim("uninstall", "--hooks-dir", str(lv.hooks_dir), "--config", str(shim.config),
             "qemu", "network", "daemon")
    assert sorted(p.name for p in lv.hooks_dir.iterdir()) == ["qemu"]
    legacy = lv.hooks_dir / "qemu"
    assert legacy.read_text() == LEGACY_HOOK.format(log=lv.root / "legacy.log")
    assert legacy.stat().st_mode & 0o777 == 0o755
    lv.restart()
    shim.skip_to_now()
    (lv.root / "legacy.log").write_text("")
    assert boot(lv, shim, "hke-after").returncode == 0
    lv.ok("destroy", "hke-after")
    assert (lv.root / "legacy.log").read_text().split("\n")[:5] == [
        f"hke-after {op} -" for op in ("prepare begin", "start begin", "started begin",
                                       "stopped end", "release end")]
    assert shim.new_events() == [], "nothing recorded once uninstalled"

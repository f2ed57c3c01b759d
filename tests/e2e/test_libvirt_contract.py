"""What the real libvirtd 9.0.0 does with hook scripts, observed with a plain recording shell hook.

These pin down the facts the shim is built on (docs: shared libvirt-hooks.md): argv, stdin,
order, environment, and what a failing hook does to `virsh start`. If a libvirt upgrade changes
any of them, these fail before the shim tests do.
"""
import os

import pytest

from tests.e2e.harness import guest_xml, network_xml, wait_for

pytestmark = [pytest.mark.libvirt, pytest.mark.slow]

# Records one file set per call: env, stdin, then argv (one per line) - written under a
# temporary name and renamed last, so a visible .argv means a whole record even while the
# call is still running (a reader never finds an .argv without its .stdin); fails when
# asked to.
RECORDER = """#!/bin/sh
f={rec}/$(date +%s%N)-$$
{{ pwd; env | sort; }} > "$f.env"
cat > "$f.stdin"
printf '%s\\n' "$0" "$@" > "$f.argv-part" && mv "$f.argv-part" "$f.argv"
if [ -e "{rec}/fail-$1-$2" ]; then echo "recorder refuses $1 $2" >&2; exit 1; fi
exit 0
"""


class Recorder:
    def __init__(self, directory):
        self.dir = directory

    def calls(self):
        """[(driver, object, op, subop, extra, stdin)] in call order; consumes the records."""
        out = []
        for argv in sorted(self.dir.glob("*.argv")):
            lines = argv.read_text().splitlines()
            stdin = argv.with_suffix(".stdin").read_text()
            out.append((os.path.basename(lines[0]), *lines[1:5], stdin))
        self.clear()
        return out

    def envs(self):
        return [p.read_text().splitlines() for p in sorted(self.dir.glob("*.env"))]

    def ops(self):
        return [(c[0], c[1], c[2], c[3], c[4]) for c in self.calls()]

    def clear(self):
        """Forget the records (and any pending fail-* switch)."""
        for p in self.dir.glob("*"):
            p.unlink()

    def fail(self, obj, op):
        (self.dir / f"fail-{obj}-{op}").touch()


@pytest.fixture(scope="module")
def recording(private_libvirt):
    lv = private_libvirt
    lv.reset()
    rec = lv.root / "rec"
    rec.mkdir(exist_ok=True)
    for driver in ("qemu", "network", "daemon"):
        hook = lv.hooks_dir / driver
        hook.write_text(RECORDER.format(rec=rec))
        hook.chmod(0o755)
    lv.start()
    yield lv, Recorder(rec)
    lv.reset()


def test_daemon_hook_runs_at_start_with_empty_stdin_in_root_dir_and_minimal_env(recording):
    _, rec = recording
    envs = rec.envs()
    assert rec.calls()[0] == ("daemon", "-", "start", "-", "start", "")
    cwd, env = envs[0][0], dict(line.split("=", 1) for line in envs[0][1:])
    assert cwd == "/"
    assert env["LC_ALL"] == "C"
    assert set(env) <= {"LC_ALL", "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "PWD", "SHLVL",
                        "LD_PRELOAD", "LD_LIBRARY_PATH", "_"}


def test_start_and_destroy_call_five_qemu_ops_in_order_with_domain_xml(recording):
    lv, rec = recording
    lv.define(guest_xml("hkc-plain"))
    assert rec.calls() == [], "define calls no hook"
    lv.ok("start", "hkc-plain")
    lv.ok("destroy", "hkc-plain")
    calls = rec.calls()
    assert [c[:5] for c in calls] == [
        ("qemu", "hkc-plain", "prepare", "begin", "-"),
        ("qemu", "hkc-plain", "start", "begin", "-"),
        ("qemu", "hkc-plain", "started", "begin", "-"),
        ("qemu", "hkc-plain", "stopped", "end", "-"),
        ("qemu", "hkc-plain", "release", "end", "-"),
    ]
    for call in calls:
        assert call[5].startswith("<domain type='qemu'") and "<name>hkc-plain</name>" in call[5]


def test_failing_prepare_aborts_start_with_hook_stderr_and_still_fires_stopped_release(recording):
    lv, rec = recording
    lv.define(guest_xml("hkc-deny"))
    rec.fail("hkc-deny", "prepare")
    proc = lv.virsh("start", "hkc-deny")
    assert proc.returncode != 0
    assert "Hook script execution failed" in proc.stderr
    assert "recorder refuses hkc-deny prepare" in proc.stderr
    assert lv.state("hkc-deny") == "shut off"
    assert [c[2] for c in rec.calls()] == ["prepare", "stopped", "release"]


def test_network_hooks_and_port_created_deleted_around_a_guest_with_an_interface(recording):
    lv, rec = recording
    lv.define_network(network_xml("hkc-net"))
    lv.ok("net-start", "hkc-net")
    lv.define(guest_xml("hkc-nic", network="hkc-net"))
    lv.ok("start", "hkc-nic")
    lv.ok("destroy", "hkc-nic")
    lv.ok("net-destroy", "hkc-net")
    lv.ok("net-undefine", "hkc-net")
    calls = rec.calls()
    assert [c[:4] for c in calls] == [
        ("network", "hkc-net", "start", "begin"), ("network", "hkc-net", "started", "begin"),
        ("qemu", "hkc-nic", "prepare", "begin"), ("network", "hkc-net", "port-created", "begin"),
        ("qemu", "hkc-nic", "start", "begin"), ("qemu", "hkc-nic", "started", "begin"),
        ("qemu", "hkc-nic", "stopped", "end"), ("network", "hkc-net", "port-deleted", "begin"),
        ("qemu", "hkc-nic", "release", "end"), ("network", "hkc-net", "stopped", "end"),
    ]
    port = calls[3][5]
    assert port.lstrip().startswith("<hookData>") and "<networkport>" in port
    assert "<name>hkc-nic</name>" in port  # the port's owner is the guest


def test_daemon_restart_calls_shutdown_start_port_created_again_and_reconnect(recording):
    lv, rec = recording
    lv.define_network(network_xml("hkc-net2"))
    lv.ok("net-start", "hkc-net2")
    lv.define(guest_xml("hkc-keep", network="hkc-net2"))
    lv.ok("start", "hkc-keep")
    rec.clear()
    lv.restart()
    # reconnect runs in a per-guest thread: it may come after the daemon already answers
    assert wait_for(lambda: len(list(rec.dir.glob("*.argv"))) >= 4)
    calls = rec.calls()
    assert [c[:5] for c in calls] == [
        ("daemon", "-", "shutdown", "-", "shutdown"),
        ("daemon", "-", "start", "-", "start"),
        ("network", "hkc-net2", "port-created", "begin", "-"),  # the running guest's port
        ("qemu", "hkc-keep", "reconnect", "begin", "-"),
    ]
    assert "<name>hkc-keep</name>" in calls[3][5]
    assert lv.state("hkc-keep") == "running"
    lv.ok("destroy", "hkc-keep")
    lv.ok("net-destroy", "hkc-net2")
    rec.clear()


def test_restore_from_a_save_file_calls_the_restore_filter_then_prepare_start_started(recording):
    lv, rec = recording
    lv.define(guest_xml("hkc-save"))
    lv.ok("start", "hkc-save")
    save = lv.root / "hkc-save.img"
    lv.ok("save", "hkc-save", str(save))
    lv.ok("restore", str(save))
    lv.ok("destroy", "hkc-save")
    save.unlink()
    calls = rec.calls()
    assert [c[2] for c in calls] == ["prepare", "start", "started", "stopped", "release",
                                     "restore", "prepare", "start", "started", "stopped",
                                     "release"]
    assert "<name>hkc-save</name>" in calls[5][5]

"""Faults: libvirt always gets the configured answer and nothing already recorded is lost."""
import os
import resource
import subprocess

import pytest

from hookshim.config import build
from hookshim.event import verify_event
from tests.hookshim.conftest import HOOK_ENV, remount
from tests.hookshim.helpers import assert_chain

XML = b"<domain><name>g</name><uuid>aaaaaaaa-2222-3333-4444-555555555555</uuid></domain>"


def record_some(shim, n=2):
    for i in range(n):
        assert shim.call("libxl", "before%d" % i, stdin=XML).returncode == 0
    return shim.events()


@pytest.mark.parametrize("policy, code", [("allow", 0), ("deny", 1)])
def test_read_only_state_dir(shim, tmpfs, policy, code):
    shim.state_dir = tmpfs
    shim.install("libxl", on_record_failure=policy)
    before = record_some(shim)
    remount(tmpfs, "ro")
    try:
        proc = shim.call("libxl", "during", stdin=XML)
    finally:
        remount(tmpfs, "rw")
    assert proc.returncode == code
    assert (b"cannot record" in proc.stderr) is (policy == "deny")
    assert shim.events() == before
    assert shim.call("libxl", "after", stdin=XML).returncode == 0
    assert_chain(shim.events())


@pytest.mark.parametrize("policy, code", [("allow", 0), ("deny", 1)])
def test_full_filesystem(shim, tmpfs, policy, code):
    shim.state_dir = tmpfs
    shim.install("libxl", on_record_failure=policy)
    before = record_some(shim)
    filler = tmpfs / "filler"
    fd = os.open(str(filler), os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
    proc = shim.call("libxl", "during", stdin=XML * 50)
    assert proc.returncode == code
    filler.unlink()
    assert [e["event_id"] for e in shim.events()] == [e["event_id"] for e in before]
    assert shim.call("libxl", "after", stdin=XML).returncode == 0
    assert_chain(shim.events())


def test_file_size_limit_reached(shim):
    shim.install("libxl")
    record_some(shim, 1)
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))  # noqa: E731
    proc = subprocess.run([str(shim.hooks_dir / "libxl"), "g", "prepare", "begin", "-"],
                          input=XML * 400, capture_output=True, env=dict(HOOK_ENV), cwd="/",
                          preexec_fn=limit)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert len(shim.events()) == 1


@pytest.mark.parametrize("policy", ["allow", "deny"])
def test_corrupt_spool_is_kept_aside_and_the_call_is_recorded_after_a_reset(shim, policy):
    shim.install("libxl", on_record_failure=policy)
    shim.state_dir.mkdir(exist_ok=True)
    garbage = b"definitely not sqlite " * 500
    shim.spool_path.write_bytes(garbage)
    proc = shim.call("libxl", stdin=XML)
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr
    (kept,) = shim.state_dir.glob("spool.db.corrupt-*")
    assert kept.read_bytes() == garbage
    assert [e["kind"] for e in shim.events()] == ["spool_reset", "hook"]


def test_xml_beyond_the_cap_reaches_scripts_whole_and_is_stored_cut(shim, tmp_path):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", "wc -c > %s" % (tmp_path / "size"))
    pad = b"<!--" + b"x" * (16 * 1024 * 1024) + b"-->"
    xml = XML.replace(b"</domain>", pad + b"</domain>")
    proc = shim.call("qemu", op="prepare", stdin=xml, timeout=120)
    assert proc.returncode == 0
    assert int((tmp_path / "size").read_text()) == len(xml)
    ev = shim.last()
    assert ev["xml_truncated"] is True and len(ev["xml"].encode()) == 16 * 1024 * 1024
    assert verify_event(ev) == []


def test_sixteen_mib_xml_within_the_cap_is_stored_whole(shim):
    shim.install("qemu")
    pad = b"<!--" + b"y" * (16 * 1024 * 1024 - len(XML) - 8) + b"-->"
    xml = XML.replace(b"</domain>", pad + b"</domain>")
    assert len(xml) <= 16 * 1024 * 1024
    assert shim.call("qemu", stdin=xml, timeout=120).returncode == 0
    ev = shim.last()
    assert ev["xml_truncated"] is False and ev["xml"].encode() == xml


def test_garbage_bytes_in_argv_and_stdin(shim):
    shim.install("qemu")
    noise = bytes(range(256)) * 64 + b"\xff\xfe\x00\xc3("
    proc = subprocess.run([str(shim.hooks_dir / "qemu").encode(), b"g\xff\xfe", b"prepare",
                           b"begin", b"-"], input=noise, capture_output=True,
                          env=dict(HOOK_ENV), cwd="/")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    ev = shim.last()
    assert ev["object"] == "g\\xff\\xfe"
    assert verify_event(ev) == []


@pytest.mark.parametrize("args", [[], ["g"], ["g", "prepare"], ["g", "prepare", "begin"]])
def test_too_few_arguments_are_recorded_not_fatal(shim, args):
    shim.install("qemu")
    proc = shim.call("qemu", stdin=XML, args=args)
    assert (proc.returncode, proc.stderr) == (0, b"")
    ev = shim.last()
    assert "libvirt passed %d arguments" % len(args) in ev["warnings"][0]
    assert [ev["object"], ev["op"], ev["subop"], ev["extra"]][len(args):] == \
        ["-"] * (4 - len(args))


def test_corrupt_policy_bundle_fails_open_with_a_warning(shim):
    shim.install("qemu")
    shim.state_dir.mkdir(exist_ok=True)
    (shim.state_dir / "policy-bundle.json").write_bytes(b"{not json")
    proc = shim.call("qemu", stdin=XML)
    assert proc.returncode == 0
    assert "policy not applied (fail open)" in shim.last()["warnings"][0]


def test_bad_config_falls_back_to_defaults_with_a_warning(tmp_path):
    from tests.hookshim.conftest import Shim

    shim = Shim(tmp_path)
    shim.install("qemu")
    shim.set(colour="blue")      # unknown key: the loader refuses the file
    proc = shim.call("qemu", stdin=XML)
    assert proc.returncode == 0
    # defaults point at /var/lib/hookshim: nothing here, but the call was answered


@pytest.mark.parametrize("mode, code", [("passthrough", 5), ("allow", 0), ("deny", 1)])
def test_internal_error_follows_on_internal_error(shim, mode, code):
    """An exception escaping the call (here a real one, raised into the real handler)."""
    from hookshim import hook

    shim.install("qemu")
    shim.adopted_script("qemu", "main", "exit 5")
    cfg = build({"state_dir": str(shim.state_dir), "on_internal_error": mode})
    call = hook.Call("qemu", ["g", "prepare", "begin", "-"])
    call.data = XML
    answer = hook.internal_error(call, cfg, str(shim.hooks_dir), RuntimeError("boom"))
    assert answer.code == code
    ev = shim.last()
    assert ev["kind"] == "internal_error" and "RuntimeError: boom" in ev["warnings"][-1]
    assert ev["exit_code"] == code


def test_spool_file_mode_is_private(shim):
    shim.install("qemu")
    shim.call("qemu", stdin=XML)
    assert os.stat(shim.state_dir).st_mode & 0o077 == 0


def test_full_spool_answers_normally_and_counts_dropped_calls(shim):
    shim.install("qemu", spool_max_bytes="6K")
    shim.adopted_script("qemu", "main", "cat >/dev/null; exit 2")
    big = XML.replace(b"</domain>", b"<!--" + b"z" * 2000 + b"--></domain>")
    codes = [shim.call("qemu", "g%d" % i, stdin=big).returncode for i in range(6)]
    assert codes == [2] * 6                           # libvirt's answer never changes
    events = shim.events()
    assert events[-1]["kind"] == "overflow"
    kept = [e for e in events if e["kind"] == "hook"]
    assert len(kept) + events[-1]["dropped"] == 6     # every call is accounted for
    assert events[-1]["object"] == "g%d" % len(kept)  # the first dropped call's summary
    assert_chain(events)


@pytest.mark.slow
def test_spool_locked_by_a_stuck_writer_follows_on_record_failure(shim):
    import sqlite3
    import time

    shim.install("libxl", on_record_failure="deny")
    record_some(shim, 1)
    stuck = sqlite3.connect(str(shim.spool_path), isolation_level=None)
    stuck.execute("BEGIN IMMEDIATE")          # a writer that never commits
    try:
        t0 = time.monotonic()
        proc = shim.call("libxl", "during", stdin=XML, timeout=60)
        waited = time.monotonic() - t0
    finally:
        stuck.execute("ROLLBACK")
        stuck.close()
    assert proc.returncode == 1 and b"cannot record this call" in proc.stderr
    assert waited < 30                        # busy timeout (10 s), not forever
    assert shim.call("libxl", "after", stdin=XML).returncode == 0
    assert [e["object"] for e in shim.events()] == ["before0", "after"]


def unwritable_spool(shim):
    """A spool path nobody can open as a database (a directory stands there)."""
    (shim.state_dir / "spool.db").mkdir(parents=True)


@pytest.mark.parametrize("driver, op, version, code", [
    ("qemu", "reconnect", "9.0.0", 0),      # daemon restart: the running guest survives
    ("qemu", "started", "11.3.0", 0),
    ("lxc", "reconnect", None, 0),
    ("libxl", "started", "2.2.0", 0),       # 2.2.0 drops it from libvirt's management
    ("libxl", "reconnect", "9.0.0", 0),     # 9.0+ drops it from libvirt's management
    ("bhyve", "started", "9.0.0", 0),
    ("network", "plugged", "2.2.0", 0),     # qemu reconnect destroyed the guest on failure
    ("network", "port-created", "9.0.0", 1),  # a new port is refused; nothing running dies
    ("qemu", "prepare", "9.0.0", 1),        # nothing runs yet: the refusal stands
    ("bhyve", "reconnect", "9.0.0", 1),     # no such op in bhyve: nothing to protect
])
def test_record_failure_never_refuses_where_a_running_guest_would_die(shim, driver, op,
                                                                      version, code):
    shim.install(driver, on_record_failure="deny")
    if version:
        shim.set(libvirt_version=version)
    unwritable_spool(shim)
    proc = shim.call(driver, op=op, subop="begin", stdin=XML)
    assert proc.returncode == code
    assert (b"cannot record" in proc.stderr) is (code == 1)


def test_guard_railed_record_failure_is_said_in_syslog(shim, monkeypatch):
    from hookshim import hook, shimlog

    said = []
    monkeypatch.setattr(shimlog, "log", lambda level, message: said.append(message))
    shim.install("qemu", on_record_failure="deny")
    unwritable_spool(shim)
    code = hook.main(["g", "reconnect", "begin", "-"], str(shim.config), "qemu",
                     str(shim.hooks_dir), fds=(os.open("/dev/null", os.O_RDONLY), 1, 2))
    assert code == 0
    assert any("would have refused (on_record_failure = deny): guard rail" in m for m in said)


@pytest.mark.parametrize("op, script, code, guarded", [
    ("started", "exit 0", 0, True),      # guard rail: answered as the scripts did
    ("started", "exit 5", 5, True),      # ... which is what libvirt would have got anyway
    ("prepare", "exit 0", 1, False),     # the refusal stands where nothing runs yet
])
def test_internal_error_deny_never_refuses_where_a_running_guest_would_die(shim, op, script,
                                                                           code, guarded):
    from hookshim import hook

    shim.install("libxl")
    shim.adopted_script("libxl", "main", script)
    cfg = build({"state_dir": str(shim.state_dir), "on_internal_error": "deny",
                 "libvirt_version": "9.0.0"})
    call = hook.Call("libxl", ["g", op, "begin", "-"])
    call.data, call.version = XML, "9.0.0"
    answer = hook.internal_error(call, cfg, str(shim.hooks_dir), RuntimeError("boom"))
    assert answer.code == code
    warned = any("would have refused (on_internal_error = deny): guard rail" in w
                 for w in shim.last()["warnings"])
    assert warned is guarded

"""Adopted scripts run with libvirt's semantics (virHookCall), through the real launcher."""
import os
import time

import pytest

XML = b"<domain><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid>" \
      b"<disk file='/old/disk.img'/></domain>"
REWRITE = "sed 's|/old/|/new/|'"


def test_main_then_d_scripts_in_byte_order_with_libvirt_argv(shim, tmp_path):
    log = tmp_path / "order.log"
    shim.install("libxl")
    for name in ("main", "b", "B", "a", "10-x"):
        shim.adopted_script("libxl", name, 'echo "%s $0 $*" >> %s' % (name, log))
    shim.adopted_script("libxl", "c-not-executable", "echo c >> %s" % log, mode=0o644)
    assert shim.call("libxl", "g1", "start", "begin", stdin=XML).returncode == 0
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["main", "10-x", "B", "a", "b"]
    assert all(line.endswith("g1 start begin -") for line in lines)
    assert [s["path"] for s in shim.last()["scripts"]] == [
        str(shim.hooks_dir / "libxl")] + [str(shim.hooks_dir / "libxl.d" / n)
                                          for n in ("10-x", "B", "a", "b")]


def test_every_script_gets_the_input_for_non_filter_ops(shim, tmp_path):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", "echo replaced")
    shim.adopted_script("qemu", "10-check", "cat > %s" % (tmp_path / "seen"))
    proc = shim.call("qemu", op="prepare", stdin=XML)
    assert (proc.returncode, proc.stdout) == (0, b"")   # stdout ignored outside filters
    assert (tmp_path / "seen").read_bytes() == XML


@pytest.mark.parametrize("scripts, out, code", [
    # empty output everywhere: libvirt keeps the input, the hook prints nothing
    ([("main", "cat >/dev/null")], b"", 0),
    # one rewrite: the rewritten XML goes to stdout
    ([("main", REWRITE)], XML.replace(b"/old/", b"/new/"), 0),
    # the next script gets the previous non-empty output; an empty one keeps it
    ([("main", REWRITE), ("10-empty", "cat >/dev/null"), ("20-on", "sed 's|/new/|/newer/|'")],
     XML.replace(b"/old/", b"/newer/"), 0),
    # a whitespace-only output keeps it too (virStringIsEmpty), and is not chained
    ([("main", REWRITE), ("10-blank", "cat >/dev/null; printf ' \\n\\t\\n'"),
      ("20-on", "sed 's|/new/|/newer/|'")], XML.replace(b"/old/", b"/newer/"), 0),
])
def test_migrate_filter_chain(shim, scripts, out, code):
    shim.install("libxl")
    for name, body in scripts:
        shim.adopted_script("libxl", name, body)
    proc = shim.call("libxl", op="migrate", stdin=XML)
    assert (proc.returncode, proc.stdout) == (code, out)
    ev = shim.last()
    assert ev["outcome"] == ("ok" if code == 0 else "aborted")
    assert ev["output_xml"] == (out.decode() if out else None)


@pytest.mark.parametrize("driver, op", [("qemu", "migrate"), ("libxl", "migrate"),
                                        ("qemu", "restore")])
@pytest.mark.parametrize("blank", ["\\n", "  \\r\\n\\t", "\\v\\f"])
def test_whitespace_only_filter_output_keeps_the_input(shim, tmp_path, driver, op, blank):
    """libvirt's callers test virStringIsEmpty: a newline is "no change", not XML to parse;
    virHookCall gives the next .d script the original input."""
    shim.install(driver)
    shim.adopted_script(driver, "main", "cat >/dev/null; printf '%s'" % blank)
    shim.adopted_script(driver, "10-next", "tee %s >/dev/null" % (tmp_path / "fed"))
    proc = shim.call(driver, op=op, stdin=XML)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    assert (tmp_path / "fed").read_bytes() == XML
    ev = shim.last()
    assert (ev["outcome"], ev["output_xml"], ev["reason"]) == ("ok", None, None)


QEMU_XML = XML.decode()
REFUSED = [
    # not XML: virDomainDefParseString fails (both drivers)
    ("libxl", "echo 'not <xml'", "not well-formed XML"),
    ("qemu", "echo 'not <xml'", "not well-formed XML"),
    # well-formed, but not a domain definition
    ("libxl", "echo '<network><name>n</name></network>'", "root element is <network>"),
    # qemu's ABI check: another name or UUID is refused (virDomainDefCheckABIStabilityFlags)
    ("qemu", "sed 's|<name>g<|<name>other<|'", "the name changed from 'g' to 'other'"),
    ("qemu", "sed 's|11111111-|99999999-|'", "the UUID changed"),
    ("qemu", "sed 's|<uuid>.*</uuid>||'", "the UUID changed"),
]


@pytest.mark.parametrize("driver, body, why", REFUSED, ids=[r[2] for r in REFUSED])
def test_filter_output_libvirt_refuses_is_recorded_as_cancelled(shim, driver, body, why):
    """The output still goes to libvirt (which refuses it with its own message, as without
    the shim); the event says what libvirt then does: the migration is cancelled."""
    shim.install(driver)
    shim.adopted_script(driver, "main", body)
    proc = shim.call(driver, op="migrate", stdin=XML)
    assert proc.returncode == 0 and proc.stdout not in (b"", XML) and proc.stderr == b""
    ev = shim.last()
    assert ev["outcome"] == "aborted" and ev["exit_code"] == 0
    assert why in ev["reason"] and "cancel the migrate" in ev["reason"]


@pytest.mark.parametrize("body", [
    "sed 's|<name>g<|<name>other<|'",                 # libxl: parsed, not ABI-checked
    "sed 's|11111111-2222-3333-4444-555555555555|11111111222233334444555555555555|'",
])
def test_filter_output_libvirt_accepts_is_ok(shim, body):
    shim.install("libxl", "qemu")
    shim.adopted_script("libxl", "main", body)
    assert shim.call("libxl", op="migrate", stdin=XML).returncode == 0
    assert shim.last()["outcome"] == "ok"


def test_uuid_spelled_differently_is_the_same_uuid_for_qemu(shim):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", "sed 's|<uuid>11111111-2222|<uuid> 1111 1111 2222|; "
                                        "s|4444-5555|44-44-5555|; s|/old/|/new/|'")
    proc = shim.call("qemu", op="restore", stdin=XML)
    assert proc.returncode == 0 and b"/new/" in proc.stdout
    assert shim.last()["outcome"] == "ok"


def test_failure_in_the_middle_of_a_chain_feeds_later_scripts_the_original(shim, tmp_path):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", REWRITE)
    shim.adopted_script("qemu", "10-fail", "cat >/dev/null; echo 'no disk here' >&2; exit 7")
    shim.adopted_script("qemu", "20-last", "tee %s" % (tmp_path / "last-input"))
    proc = shim.call("qemu", op="migrate", stdin=XML)
    assert proc.returncode == 7 and proc.stdout == b""
    assert (tmp_path / "last-input").read_bytes() == XML       # original, not the rewrite
    assert proc.stderr == b"no disk here\n"                    # as libvirt would show it
    ev = shim.last()
    assert [s["exit_code"] for s in ev["scripts"]] == [0, 7, 0]
    assert ev["outcome"] == "aborted" and ev["stderr"] == "no disk here\n"
    assert "10-fail" in ev["reason"] and ev["reason"].endswith("exit status 7: no disk here")


def test_virsh_is_shown_the_last_failing_scripts_whole_stderr(shim):
    """virHookCall runs every script; each failure replaces libvirt's last error, so the
    caller sees the LAST failing script's exit status and all of its stderr."""
    shim.install("qemu")
    shim.adopted_script("qemu", "main", "echo 'first failure' >&2; exit 3")
    shim.adopted_script("qemu", "10-ok", "echo 'chatter of a script that succeeds' >&2")
    shim.adopted_script("qemu", "20-fail", "printf 'line one\\n\\nline three\\n' >&2; exit 9")
    proc = shim.call("qemu", op="prepare", stdin=XML)
    assert proc.returncode == 9
    assert proc.stderr == b"line one\n\nline three\n"
    ev = shim.last()
    assert ev["stderr"] == proc.stderr.decode()               # exactly what libvirt was told
    assert "20-fail" in ev["reason"]



def test_restore_is_a_filter_for_qemu_only(shim):
    shim.install("qemu", "lxc")
    for driver in ("qemu", "lxc"):
        shim.adopted_script(driver, "main", REWRITE)
    assert shim.call("qemu", op="restore", stdin=XML).stdout == XML.replace(b"/old/", b"/new/")
    assert shim.call("lxc", op="restore", stdin=XML).stdout == b""


@pytest.mark.slow
def test_hanging_script_is_killed_at_the_timeout(shim, tmp_path):
    shim.install("libxl", script_timeout="1")
    shim.adopted_script("libxl", "main", "sleep 600 & echo $! > %s; sleep 600"
                        % (tmp_path / "child"))
    t0 = time.monotonic()
    proc = shim.call("libxl", op="prepare", stdin=XML, timeout=30)
    assert time.monotonic() - t0 < 20
    assert proc.returncode != 0 and "timed out" in proc.stderr.decode()
    ev = shim.last()
    assert ev["outcome"] == "timed_out" and ev["scripts"][0]["timed_out"] is True
    child = int((tmp_path / "child").read_text())
    time.sleep(0.2)
    assert not os.path.exists("/proc/%d" % child) or "Z" in open(
        "/proc/%d/stat" % child).read().split()[2]       # the whole group was killed


def test_a_timeout_never_refuses_where_a_running_guest_would_die(shim):
    """libvirt itself would wait for ever; the shim's own timeout must not make libvirt
    destroy a guest that is running (guard rail): answered 0, recorded as timed out."""
    shim.install("qemu", script_timeout="1", libvirt_version="9.0.0")
    shim.adopted_script("qemu", "main", "sleep 600")
    proc = shim.call("qemu", op="started", stdin=XML, timeout=30)
    assert (proc.returncode, proc.stderr) == (0, b"")
    ev = shim.last()
    assert (ev["outcome"], ev["exit_code"]) == ("timed_out", 0) and "timed out" in ev["reason"]
    assert any("would have refused (script_timeout): guard rail" in w for w in ev["warnings"])



@pytest.mark.slow
def test_background_child_holding_stdout_does_not_hang_the_call(shim, tmp_path):
    shim.install("qemu")   # no timeout configured, as libvirt
    pidfile = tmp_path / "bg"
    shim.adopted_script("qemu", "main", "(sleep 30; echo late) & echo $! > %s; exit 0" % pidfile)
    t0 = time.monotonic()
    proc = shim.call("qemu", op="started", stdin=XML, timeout=25)
    assert time.monotonic() - t0 < 10
    assert proc.returncode == 0 and shim.last()["outcome"] == "ok"
    os.kill(int(pidfile.read_text()), 9)


def test_scripts_inherit_no_fd_beyond_0_1_2(shim, tmp_path):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", "ls /proc/self/fd > %s" % (tmp_path / "fds"))
    assert shim.call("qemu", stdin=XML).returncode == 0
    fds = sorted(int(n) for n in (tmp_path / "fds").read_text().split())
    assert fds[:3] == [0, 1, 2] and len(fds) <= 4    # 3 = the directory ls itself reads


def test_script_that_cannot_execute_fails_the_call(shim):
    shim.install("qemu")
    path = shim.adopted_script("qemu", "main", "")
    path.write_bytes(b"\x7fELF garbage")
    proc = shim.call("qemu", op="prepare", stdin=XML)
    assert proc.returncode == 126 and "cannot execute" in proc.stderr.decode()


def test_script_loop_through_a_symlink_to_the_launcher_stops(shim):
    shim.install("qemu")
    link = shim.hooks_dir / "qemu.hookshim" / "d" / "10-loop"
    link.symlink_to(shim.hooks_dir / "qemu")
    proc = shim.call("qemu", op="prepare", stdin=XML, timeout=30)
    assert proc.returncode == 0
    warnings = [w for e in shim.events() for w in e["warnings"]]
    assert any("loop" in w for w in warnings)


@pytest.mark.parametrize("stderr, said", [
    # a plain message: its first line is the reason virsh shows
    ("printf 'disk quota exceeded\\nsee ops wiki\\n' >&2", "disk quota exceeded"),
    # a Python traceback: its last line says what went wrong, not "Traceback (...)"
    ("printf 'Traceback (most recent call last):\\n  File \"x\", line 1\\nKeyError: cmdb\\n' >&2",
     "KeyError: cmdb"),
])
def test_failed_script_reason_is_the_line_that_says_what_went_wrong(shim, stderr, said):
    shim.install("qemu")
    shim.adopted_script("qemu", "main", stderr + "; exit 3")
    proc = shim.call("qemu", op="prepare", stdin=XML)
    assert proc.returncode == 3
    assert shim.last()["reason"].endswith(": exit status 3: " + said)

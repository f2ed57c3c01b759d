"""The hook call through the installed launcher, exactly as libvirtd runs it."""
import os
import subprocess

import pytest

from hookshim.event import verify_event
from tests.conftest import FIXTURES_XML
from tests.hookshim.helpers import assert_chain

# Every (driver, op, subop, extra) libvirt calls (libvirt-hooks.md), with the outcome of a
# failing answer. Extra is "-" except qemu release (shutoff reason) and daemon reload.
CALLS = [
    ("libxl", "prepare", "begin", "-", "aborted"),
    ("libxl", "start", "begin", "-", "aborted"),
    ("libxl", "started", "begin", "-", "killed"),
    ("libxl", "stopped", "end", "-", "failed_ignored"),
    ("libxl", "release", "end", "-", "failed_ignored"),
    ("libxl", "migrate", "begin", "-", "aborted"),
    ("libxl", "reconnect", "begin", "-", "killed"),
    ("qemu", "prepare", "begin", "-", "aborted"),
    ("qemu", "start", "begin", "-", "aborted"),
    ("qemu", "started", "begin", "-", "killed"),
    ("qemu", "stopped", "end", "-", "failed_ignored"),
    ("qemu", "release", "end", "from snapshot", "failed_ignored"),
    ("qemu", "migrate", "begin", "-", "aborted"),
    ("qemu", "restore", "begin", "-", "aborted"),
    ("qemu", "reconnect", "begin", "-", "killed"),
    ("qemu", "attach", "begin", "-", "aborted"),
    ("lxc", "prepare", "begin", "-", "aborted"),
    ("lxc", "start", "begin", "-", "aborted"),
    ("lxc", "started", "begin", "-", "killed"),
    ("lxc", "stopped", "end", "-", "failed_ignored"),
    ("lxc", "release", "end", "-", "failed_ignored"),
    ("lxc", "reconnect", "begin", "-", "killed"),
    ("bhyve", "prepare", "begin", "-", "aborted"),
    ("bhyve", "start", "begin", "-", "aborted"),
    ("bhyve", "started", "begin", "-", "killed"),
    ("bhyve", "stopped", "end", "-", "failed_ignored"),
    ("bhyve", "release", "end", "-", "failed_ignored"),
    ("network", "start", "begin", "-", "aborted"),
    ("network", "started", "begin", "-", "aborted"),
    ("network", "stopped", "end", "-", "failed_ignored"),
    ("network", "port-created", "begin", "-", "aborted"),
    ("network", "port-deleted", "begin", "-", "failed_ignored"),
    # applied and saved before the hook runs: nothing is rolled back (networkUpdate)
    ("network", "updated", "begin", "-", "failed_ignored"),
    ("daemon", "start", "-", "start", "failed_ignored"),
    ("daemon", "shutdown", "-", "shutdown", "failed_ignored"),
    ("daemon", "reload", "begin", "SIGHUP", "failed_ignored"),
]
DRIVERS = sorted({c[0] for c in CALLS})


def fixture_xml(driver):
    """Realistic XML for the driver (tests/fixtures/xml): libxl and qemu domains, network
    hookData, none for daemon. The payload only has to be what libvirt sends, so the
    optional corpus would add nothing here."""
    if driver == "daemon":
        return b""
    if driver == "network":
        net = (FIXTURES_XML / "network" / "isolated.xml").read_text()
        return ("<hookData>%s</hookData>" % net).encode()
    folder = "qemu" if driver in ("qemu", "lxc", "bhyve") else "libxl"
    return sorted((FIXTURES_XML / folder).glob("*.xml"))[0].read_bytes()


@pytest.fixture
def all_drivers(shim):
    shim.install(*DRIVERS)
    return shim


@pytest.mark.parametrize("driver, op, subop, extra, _", CALLS)
def test_every_call_is_answered_and_recorded(all_drivers, driver, op, subop,
                                             extra, _):
    shim = all_drivers
    obj = "-" if driver == "daemon" else "guest1"
    xml = fixture_xml(driver)
    proc = shim.call(driver, obj, op, subop, extra, stdin=xml)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"")
    ev = shim.last()
    assert (ev["driver"], ev["object"], ev["op"], ev["subop"], ev["extra"]) == (
        driver, obj, op, subop, extra)
    assert (ev["kind"], ev["exit_code"], ev["outcome"], ev["reason"]) == ("hook", 0, "ok", None)
    assert ev["xml"] == (xml.decode() if xml else None) or ev["redactions"] > 0
    assert ev["warnings"] == [] and ev["scripts"] == [] and ev["policy"] is None
    assert verify_event(ev) == []
    if driver not in ("daemon",):
        assert ev["domain_uuid"] and ev["domain_uuid"] == ev["domain_uuid"].lower()


@pytest.mark.parametrize("driver, op, subop, extra, outcome", CALLS)
def test_failing_adopted_script_outcome_per_op(all_drivers, driver, op, subop,
                                               extra, outcome):
    shim = all_drivers
    shim.adopted_script(driver, "main", "cat >/dev/null; echo 'refused by site' >&2; exit 3")
    proc = shim.call(driver, "g", op, subop, extra, stdin=fixture_xml(driver))
    assert proc.returncode == 3 and proc.stdout == b""
    assert proc.stderr == b"refused by site\n"   # the script's stderr, as libvirt shows it
    ev = shim.last()
    assert (ev["exit_code"], ev["outcome"]) == (3, outcome)
    assert ev["stderr"] == proc.stderr.decode()


def test_event_fields_follow_the_contract(shim):
    shim.install("libxl")
    proc = shim.call("libxl", "g", "prepare", "begin", stdin=fixture_xml("libxl"))
    assert proc.returncode == 0
    ev = shim.last()
    expected = {"v", "kind", "event_id", "host", "seq", "prev_hash", "hash", "driver", "object",
                "op", "subop", "extra", "domain_uuid", "started_at", "duration_ms",
                "exit_code", "outcome", "reason", "stderr", "xml", "xml_sha256",
                "xml_truncated", "output_xml", "output_xml_sha256", "redactions", "policy",
                "scripts", "warnings", "dropped", "shim"}
    assert set(ev) == expected
    assert ev["started_at"].endswith("Z") and len(ev["started_at"]) == 27
    assert ev["event_id"][14] == "7"       # UUIDv7 layout
    assert set(ev["shim"]) == {"version", "hostname", "pid"}


@pytest.mark.slow
def test_64_concurrent_calls_all_recorded_gapless(shim):
    shim.install("libxl")
    xml = fixture_xml("libxl")
    argv = [str(shim.hooks_dir / "libxl"), "g", "prepare", "begin", "-"]
    from tests.hookshim.conftest import HOOK_ENV

    procs = [subprocess.Popen(argv[:1] + ["guest%d" % i] + argv[2:], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/",
                              env=dict(HOOK_ENV)) for i in range(64)]
    results = [p.communicate(xml, timeout=120) + (p.returncode,) for p in procs]
    assert all(r == (b"", b"", 0) for r in results)
    events = shim.events()
    assert len(events) == 64
    assert sorted(e["object"] for e in events) == sorted("guest%d" % i for i in range(64))
    assert_chain(events)


def test_unmanaged_script_dropped_into_d_is_warned_about(shim):
    shim.install("qemu")
    d = shim.hooks_dir / "qemu.d"
    d.mkdir()
    (d / "50-new").write_text("#!/bin/sh\nexit 0\n")
    (d / "50-new").chmod(0o755)
    assert shim.call("qemu", stdin=b"<domain/>").returncode == 0
    (warning,) = shim.last()["warnings"]
    assert "unmanaged hook script %s" % (d / "50-new") in warning


def test_unknown_op_is_recorded_not_refused(shim):
    shim.install("qemu")
    proc = shim.call("qemu", "g", "teleport", "begin", stdin=b"<domain/>")
    assert proc.returncode == 0
    ev = shim.last()
    assert ev["op"] == "teleport" and "not in the outcome table" in ev["warnings"][0]


@pytest.mark.parametrize("max_wal_bytes, left_open", [
    (None, False),     # hook.main alone (hookshim run, tests): the connection is closed
    (1 << 20, True),   # the launcher's KeptConnections, small WAL: kept until posix._exit
    (0, False),        # ... a WAL past the limit: closed, so SQLite checkpoints it away
])
def test_the_spool_connection_outlives_the_call_only_when_the_launcher_keeps_it(
        shim, max_wal_bytes, left_open):
    from hookshim import hook
    from hookshim.record import KeptConnections

    shim.install("libxl")
    kept = None if max_wal_bytes is None else KeptConnections(max_wal_bytes)
    stdin = os.open("/dev/null", os.O_RDONLY)
    try:
        assert hook.main(["g", "prepare", "begin", "-"], str(shim.config), "libxl",
                         str(shim.hooks_dir), fds=(stdin, 1, 2), kept=kept) == 0
    finally:
        os.close(stdin)
    # Closing the last connection checkpoints and removes the WAL; a kept one leaves it.
    assert (shim.state_dir / "spool.db-wal").exists() is left_open
    for spool in kept.spools if kept else ():
        spool.close()
    assert not (shim.state_dir / "spool.db-wal").exists()
    assert shim.last()["object"] == "g"


@pytest.mark.slow
def test_wal_stays_bounded_across_many_calls_without_a_forwarder(shim):
    """Hook processes keep their connection through os._exit while the WAL is small and
    checkpoint past WAL_KEEP_BYTES: the WAL never grows without bound."""
    from hookshim.record import WAL_KEEP_BYTES

    shim.install("libxl")
    xml = fixture_xml("libxl") * 3
    sizes = []
    for i in range(120):
        assert shim.call("libxl", "g%d" % i, stdin=xml).returncode == 0
        wal = shim.state_dir / "spool.db-wal"
        sizes.append(wal.stat().st_size if wal.exists() else 0)
    assert max(sizes) < WAL_KEEP_BYTES + 64 * 1024
    assert min(sizes[60:]) < max(sizes)          # it was checkpointed along the way
    assert_chain(shim.events())

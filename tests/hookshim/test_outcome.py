"""The outcome table: what a non-zero answer does, per driver, op and libvirt release.

One test row per version row of hookshim/outcome.py, written out here by hand (not read from
ROWS) so that a changed row fails; each comment names the libvirt function it was read in.
"""
import pytest

from hookshim import outcome
from hookshim.outcome import derive, guard_rail_ops, is_filter, is_known

# (driver, op, release, outcome of a non-zero answer, harms a running guest)
VERSION_ROWS = [
    # src/qemu/qemu_process.c qemuProcessInit: start refused, stopped + release follow
    ("qemu", "prepare", "2.2.0", "aborted", False),
    ("qemu", "prepare", "9.0.0", "aborted", False),
    ("qemu", "prepare", "11.3.0", "aborted", False),
    # src/qemu/qemu_process.c qemuProcessLaunch: process stopped before the guest runs
    ("qemu", "start", "2.2.0", "aborted", False),
    ("qemu", "start", "9.0.0", "aborted", False),
    ("qemu", "start", "11.3.0", "aborted", False),
    # src/qemu/qemu_process.c qemuProcessFinishStartup: the running guest is destroyed
    ("qemu", "started", "2.2.0", "killed", True),
    ("qemu", "started", "9.0.0", "killed", True),
    ("qemu", "started", "11.3.0", "killed", True),
    # src/qemu/qemu_process.c qemuProcessStop: "we can't stop the operation"
    ("qemu", "stopped", "2.2.0", "failed_ignored", False),
    ("qemu", "stopped", "9.0.0", "failed_ignored", False),
    ("qemu", "stopped", "11.3.0", "failed_ignored", False),
    ("qemu", "release", "2.2.0", "failed_ignored", False),
    ("qemu", "release", "9.0.0", "failed_ignored", False),
    ("qemu", "release", "11.3.0", "failed_ignored", False),
    # src/qemu/qemu_migration.c qemuMigrationPrepareAny / qemuMigrationDstPrepareFresh
    ("qemu", "migrate", "2.2.0", "aborted", False),
    ("qemu", "migrate", "9.0.0", "aborted", False),
    ("qemu", "migrate", "11.3.0", "aborted", False),
    # src/qemu/qemu_driver.c qemuDomainRestoreFlags / qemuDomainRestoreInternal
    ("qemu", "restore", "2.2.0", "aborted", False),
    ("qemu", "restore", "9.0.0", "aborted", False),
    ("qemu", "restore", "11.3.0", "aborted", False),
    # src/qemu/qemu_process.c qemuProcessReconnect: error path stops the guest
    ("qemu", "reconnect", "2.2.0", "killed", True),
    ("qemu", "reconnect", "9.0.0", "killed", True),
    ("qemu", "reconnect", "11.3.0", "killed", True),
    # src/qemu/qemu_process.c qemuProcessAttach (gone in 9.0)
    ("qemu", "attach", "2.2.0", "aborted", False),
    ("qemu", "attach", "9.0.0", "failed_ignored", False),
    # src/lxc/lxc_process.c virLXCProcessStart
    ("lxc", "prepare", "2.2.0", "aborted", False),
    ("lxc", "prepare", "9.0.0", "aborted", False),
    ("lxc", "prepare", "11.3.0", "aborted", False),
    ("lxc", "start", "2.2.0", "aborted", False),
    ("lxc", "start", "9.0.0", "aborted", False),
    ("lxc", "start", "11.3.0", "aborted", False),
    ("lxc", "started", "2.2.0", "killed", True),
    ("lxc", "started", "9.0.0", "killed", True),
    ("lxc", "started", "11.3.0", "killed", True),
    # src/lxc/lxc_process.c virLXCProcessCleanup
    ("lxc", "stopped", "2.2.0", "failed_ignored", False),
    ("lxc", "stopped", "9.0.0", "failed_ignored", False),
    ("lxc", "stopped", "11.3.0", "failed_ignored", False),
    ("lxc", "release", "2.2.0", "failed_ignored", False),
    ("lxc", "release", "9.0.0", "failed_ignored", False),
    ("lxc", "release", "11.3.0", "failed_ignored", False),
    # src/lxc/lxc_process.c virLXCProcessReconnectDomain: error -> virLXCProcessStop
    ("lxc", "reconnect", "2.2.0", "killed", True),
    ("lxc", "reconnect", "9.0.0", "killed", True),
    ("lxc", "reconnect", "11.3.0", "killed", True),
    # src/libxl/libxl_domain.c libxlDomainStart (2.2.0: cleanup_dom fires stopped/release)
    ("libxl", "prepare", "2.2.0", "aborted", False),
    # libxlDomainStartPrepare (9.0+): error path fires no stopped/release
    ("libxl", "prepare", "9.0.0", "aborted", False),
    ("libxl", "prepare", "11.3.0", "aborted", False),
    # libxlDomainStart (2.2.0), libxlDomainStartPerform (9.0+)
    ("libxl", "start", "2.2.0", "aborted", False),
    ("libxl", "start", "9.0.0", "aborted", False),
    ("libxl", "start", "11.3.0", "aborted", False),
    # libxlDomainStart 2.2.0: started -> cleanup_dom, no destroy: the guest is dropped
    ("libxl", "started", "2.2.0", "aborted", True),
    # libxlDomainStartPerform 9.0+: started -> destroy_dom
    ("libxl", "started", "9.0.0", "killed", True),
    ("libxl", "started", "11.3.0", "killed", True),
    # src/libxl/libxl_domain.c libxlDomainCleanup: ignore_value
    ("libxl", "stopped", "2.2.0", "failed_ignored", False),
    ("libxl", "stopped", "9.0.0", "failed_ignored", False),
    ("libxl", "stopped", "11.3.0", "failed_ignored", False),
    ("libxl", "release", "2.2.0", "failed_ignored", False),
    ("libxl", "release", "9.0.0", "failed_ignored", False),
    ("libxl", "release", "11.3.0", "failed_ignored", False),
    # src/libxl/libxl_migration.c libxlDomainMigrationPrepare(Any)
    ("libxl", "migrate", "2.2.0", "aborted", False),
    ("libxl", "migrate", "9.0.0", "aborted", False),
    ("libxl", "migrate", "11.3.0", "aborted", False),
    # src/libxl/libxl_driver.c libxlReconnectDomain: 2.2.0 libxlDomainDestroyInternal
    ("libxl", "reconnect", "2.2.0", "killed", True),
    # 9.0+: libxlDomainCleanup only (dropped from management, Xen keeps it running)
    ("libxl", "reconnect", "9.0.0", "aborted", True),
    ("libxl", "reconnect", "11.3.0", "aborted", True),
    # src/bhyve/bhyve_process.c virBhyveProcessStart / virBhyveProcessStartImpl / ...Stop
    ("bhyve", "prepare", "9.0.0", "aborted", False),
    ("bhyve", "prepare", "11.3.0", "aborted", False),
    ("bhyve", "start", "9.0.0", "aborted", False),
    ("bhyve", "start", "11.3.0", "aborted", False),
    ("bhyve", "started", "9.0.0", "killed", True),
    ("bhyve", "started", "11.3.0", "killed", True),
    ("bhyve", "stopped", "9.0.0", "failed_ignored", False),
    ("bhyve", "stopped", "11.3.0", "failed_ignored", False),
    ("bhyve", "release", "9.0.0", "failed_ignored", False),
    ("bhyve", "release", "11.3.0", "failed_ignored", False),
    # no bhyve hook in 2.2.0 (first shipped in 6.1.0): unknown op
    ("bhyve", "started", "2.2.0", "failed_ignored", False),
    # src/network/bridge_driver.c networkStartNetwork
    ("network", "start", "2.2.0", "aborted", False),
    ("network", "start", "9.0.0", "aborted", False),
    ("network", "start", "11.3.0", "aborted", False),
    ("network", "started", "2.2.0", "aborted", False),
    ("network", "started", "9.0.0", "aborted", False),
    ("network", "started", "11.3.0", "aborted", False),
    # networkShutdownNetwork
    ("network", "stopped", "2.2.0", "failed_ignored", False),
    ("network", "stopped", "9.0.0", "failed_ignored", False),
    ("network", "stopped", "11.3.0", "failed_ignored", False),
    # networkUpdate: runs after the change is applied and saved, nothing rolls back
    ("network", "updated", "2.2.0", "failed_ignored", False),
    ("network", "updated", "9.0.0", "failed_ignored", False),
    ("network", "updated", "11.3.0", "failed_ignored", False),
    # networkAllocateActualDevice / networkNotifyActualDevice + qemuProcessReconnect (2.2.0)
    ("network", "plugged", "2.2.0", "killed", True),
    # networkReleaseActualDevice (2.2.0)
    ("network", "unplugged", "2.2.0", "failed_ignored", False),
    # networkAllocatePort (refused) / networkNotifyPort (reclaim, ignored), 9.0+
    ("network", "port-created", "9.0.0", "aborted", False),
    ("network", "port-created", "11.3.0", "aborted", False),
    # networkReleasePort
    ("network", "port-deleted", "9.0.0", "failed_ignored", False),
    ("network", "port-deleted", "11.3.0", "failed_ignored", False),
    # src/remote/remote_daemon.c main, daemonReloadHandlerThread: result ignored
    ("daemon", "start", "9.0.0", "failed_ignored", False),
    ("daemon", "start", "11.3.0", "failed_ignored", False),
    ("daemon", "shutdown", "9.0.0", "failed_ignored", False),
    ("daemon", "shutdown", "11.3.0", "failed_ignored", False),
    ("daemon", "reload", "9.0.0", "failed_ignored", False),
    ("daemon", "reload", "11.3.0", "failed_ignored", False),
]


@pytest.mark.parametrize("driver, op, release, expected, harms", VERSION_ROWS,
                         ids=["%s-%s-%s" % r[:3] for r in VERSION_ROWS])
def test_version_row(driver, op, release, expected, harms):
    assert derive(driver, op, 1, version=release) == expected
    assert outcome.harms_running(driver, op, release) is harms
    assert (op in guard_rail_ops(driver, release)) is harms


def test_every_table_row_has_a_test_row():
    tested = {(d, o, r) for d, o, r, _, _ in VERSION_ROWS}
    table = {(row.driver, row.op, r) for row in outcome.ROWS for r in row.releases}
    assert table <= tested


@pytest.mark.parametrize("driver, op, version, expected", [
    # between 2.2.0 and 9.0.0 nothing is pinned: the worse of both readings
    ("libxl", "reconnect", "6.0.0", "killed"),
    ("libxl", "started", "5.1.0", "killed"),
    # after the last verified release: that release's reading
    ("libxl", "reconnect", "12.1.0", "aborted"),
    # unknown or unreadable version: the worst reading of all
    ("libxl", "reconnect", None, "killed"),
    ("libxl", "reconnect", "garbage", "killed"),
    ("network", "plugged", None, "killed"),
    # verified releases take exactly their row
    ("libxl", "started", "2.2.0", "aborted"),
    ("libxl", "started", "9.0", "killed"),          # "9.0" means 9.0.0
])
def test_versions_between_and_beyond_take_the_safer_reading(driver, op, version, expected):
    assert derive(driver, op, 1, version=version) == expected


@pytest.mark.parametrize("driver, op, exit_code, timed_out, expected", [
    ("libxl", "prepare", 0, False, "ok"),                 # success is always ok
    ("qemu", "prepare", 1, True, "timed_out"),            # timeout wins over the op's row
    ("qemu", "stopped", 0, True, "timed_out"),
    ("qemu", "future-op", 1, False, "failed_ignored"),    # unknown: not assumed to abort
    ("newdriver", "prepare", 1, False, "failed_ignored"), # unknown driver likewise
    ("daemon", "start", 1, False, "failed_ignored"),      # daemon hook result ignored
])
def test_answers_outside_the_table(driver, op, exit_code, timed_out, expected):
    assert derive(driver, op, exit_code, timed_out) == expected


@pytest.mark.parametrize("driver, version, expected", [
    ("qemu", "9.0.0", ["reconnect", "started"]),
    ("lxc", "11.3.0", ["reconnect", "started"]),
    ("libxl", "2.2.0", ["reconnect", "started"]),   # started drops, reconnect destroys
    ("libxl", "9.0.0", ["reconnect", "started"]),   # started destroys, reconnect drops
    ("bhyve", "9.0.0", ["started"]),                # bhyve has no reconnect
    ("network", "2.2.0", ["plugged"]),              # plugged during qemu reconnect kills
    ("network", "9.0.0", []),                       # a reclaimed port ignores failure
    ("network", None, ["plugged"]),
    ("daemon", None, []),
])
def test_guard_rail_ops_per_version(driver, version, expected):
    assert guard_rail_ops(driver, version) == expected


def test_effect_names_the_release_and_the_source():
    text = outcome.effect("libxl", "reconnect", "9.0.0")
    assert "Xen keeps running it" in text and "libxlReconnectDomain" in text
    assert "9.0.0" in text


@pytest.mark.parametrize("driver, op, expected", [
    ("libxl", "migrate", True), ("qemu", "migrate", True), ("qemu", "restore", True),
    ("libxl", "restore", False),   # libxl has no restore filter
    ("lxc", "migrate", False), ("qemu", "prepare", False),
])
def test_filter_ops(driver, op, expected):
    assert is_filter(driver, op) is expected


def test_unknown_ops_are_flagged():
    assert is_known("qemu", "prepare") and not is_known("qemu", "future-op")


def _libvirt_table():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "libvirt_table.py"
    spec = importlib.util.spec_from_file_location("libvirt_table", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_libvirt_md_has_the_table_of_the_code():
    """docs/libvirt.md and outcome.py cannot drift: the doc's table is the code's."""
    table = _libvirt_table()
    doc = table.DOC.read_text()
    assert table.render(doc) == doc, "run: python scripts/libvirt_table.py"
    for row in outcome.ROWS:   # and every (driver, op) of the code is in the doc
        assert "| %s | %s | %s |" % (row.driver, row.op, ", ".join(row.releases)) in doc


def test_docs_libvirt_md_names_every_driver_and_op_in_its_prose():
    doc = _libvirt_table().DOC.read_text()
    prose = doc.split("<!-- failure table")[0]
    for driver in outcome.DRIVERS:
        assert "| %s (%s) |" % (driver, outcome.DRIVERS[driver]) in prose
        for op in outcome.ops(driver):
            assert "`%s`" % op in prose, (driver, op)


@pytest.mark.parametrize("driver, op, version, expected", [
    ("libxl", "prepare", "2.2.0", True),    # libxlDomainStart: cleanup_dom -> libxlDomainCleanup
    ("libxl", "prepare", "9.0.0", False),   # libxlDomainStartPrepare: error path, no hooks
    ("libxl", "prepare", None, True),       # unknown: cleanup calls may come
    ("bhyve", "start", "9.0.0", False),     # virBhyveProcessStartImpl: destroy, no hooks
    ("qemu", "prepare", "9.0.0", True),     # qemuProcessStop fires stopped + release
    ("qemu", "migrate", "9.0.0", False),    # a refused filter cancels before anything ran
])
def test_cleanup_calls_after_a_failed_start_call(driver, op, version, expected):
    assert outcome.cleanup_follows(driver, op, version) is expected

"""The outcome table: what a non-zero answer does to the guest operation, per driver/op."""
import pytest

from hookshim.outcome import derive, is_filter, is_known


@pytest.mark.parametrize("driver, op, exit_code, timed_out, expected", [
    ("libxl", "prepare", 0, False, "ok"),                 # success is always ok
    ("libxl", "prepare", 1, False, "aborted"),            # start refused, nothing follows
    ("libxl", "start", 1, False, "aborted"),              # torn down before it runs
    ("libxl", "started", 1, False, "killed"),             # running guest destroyed
    ("libxl", "stopped", 1, False, "failed_ignored"),     # logged, ignored
    ("libxl", "release", 2, False, "failed_ignored"),
    ("libxl", "migrate", 1, False, "aborted"),            # incoming migration cancelled
    ("libxl", "reconnect", 1, False, "killed"),           # documented: guest killed
    ("qemu", "restore", 1, False, "aborted"),             # restore filter refused
    ("qemu", "prepare", 1, False, "aborted"),
    ("qemu", "attach", 1, False, "aborted"),              # obsolete op, still known
    ("lxc", "started", 1, False, "killed"),
    ("bhyve", "start", 1, False, "aborted"),
    ("network", "start", 1, False, "aborted"),            # network does not come up
    ("network", "port-created", 1, False, "aborted"),     # the guest's port is refused
    ("network", "port-deleted", 1, False, "failed_ignored"),
    ("network", "stopped", 1, False, "failed_ignored"),
    ("daemon", "start", 1, False, "failed_ignored"),      # daemon hook result ignored
    ("daemon", "shutdown", 1, False, "failed_ignored"),
    ("qemu", "prepare", 1, True, "timed_out"),            # timeout wins over the op's row
    ("qemu", "stopped", 0, True, "timed_out"),
    ("qemu", "future-op", 1, False, "failed_ignored"),    # unknown: not assumed to abort
    ("newdriver", "prepare", 1, False, "failed_ignored"), # unknown driver likewise
])
def test_outcome_table(driver, op, exit_code, timed_out, expected):
    assert derive(driver, op, exit_code, timed_out) == expected


@pytest.mark.parametrize("driver, op, expected", [
    ("libxl", "migrate", True), ("qemu", "migrate", True), ("qemu", "restore", True),
    ("libxl", "restore", False),   # libxl has no restore filter
    ("lxc", "migrate", False), ("qemu", "prepare", False),
])
def test_filter_ops(driver, op, expected):
    assert is_filter(driver, op) is expected


def test_unknown_ops_are_flagged():
    assert is_known("qemu", "prepare") and not is_known("qemu", "future-op")

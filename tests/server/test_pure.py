"""Pure cores, table-driven: sequence gaps, guest states, boot grouping."""
import pytest

from app.services.chain import fill_gap, new_gaps
from app.services.guest_state import next_state
from app.services.guests import group_boots


@pytest.mark.parametrize("prev_max, seqs, gaps", [
    (0, [1, 2, 3], []),                  # gapless start
    (0, [2, 3], [(1, 1)]),               # the first event is missing
    (3, [4, 7, 8, 10], [(5, 6), (9, 9)]),  # two holes in one batch
    (5, [2, 3], []),                     # late events open nothing
])
def test_gaps_opened_by_a_batch_of_seqs(prev_max, seqs, gaps):
    assert new_gaps(prev_max, seqs) == gaps


@pytest.mark.parametrize("gap, seqs, left", [
    ((3, 4), [3, 4], []),                # filled: closed
    ((3, 6), [4], [(3, 3), (5, 6)]),     # split in two
    ((3, 6), [3], [(4, 6)]),             # shrunk from the left
    ((3, 6), [6, 9], [(3, 5)]),          # seqs outside the gap are ignored
])
def test_fill_gap(gap, seqs, left):
    assert fill_gap(gap, seqs) == left


@pytest.mark.parametrize("driver, op, outcome, exit_code, state", [
    ("libxl", "prepare", "ok", 0, "starting"),
    ("libxl", "prepare", "aborted", 1, "start_failed"),    # refused start
    ("qemu", "started", "ok", 0, "running"),
    ("qemu", "reconnect", "killed", 1, "killed"),          # failing reconnect kills the guest
    ("libxl", "reconnect", "aborted", 1, "unmanaged"),     # 9.0+: dropped, Xen keeps running it
    ("libxl", "started", "aborted", 1, "unmanaged"),       # 2.2.0: dropped, not destroyed
    ("qemu", "started", "timed_out", 0, "running"),        # guard rail: killed script, answered 0
    ("qemu", "prepare", "timed_out", 1, "start_failed"),   # killed script refused the start
    ("libxl", "release", "failed_ignored", 1, "stopped"),  # release failures are ignored
    ("network", "started", "ok", 0, "active"),             # networks have their own words
    ("qemu", "migrate", "aborted", 1, None),               # refused incoming migration: no change
])
def test_next_state(driver, op, outcome, exit_code, state):
    assert next_state(driver, op, outcome, exit_code) == state


def ev(host, op, t, outcome="ok", driver="libxl", extra="-"):
    return {"host": host, "op": op, "started_at": f"2026-01-01T00:00:{t:02d}.000000Z",
            "outcome": outcome, "driver": driver, "extra": extra}


def test_refused_libxl_prepare_is_a_closed_aborted_boot_and_the_retry_a_new_one():
    boots = group_boots([ev("a", "prepare", 1, "aborted"), ev("a", "prepare", 2),
                         ev("a", "start", 3)])
    assert [(b["status"], len(b["events"])) for b in boots] == [("aborted", 1), ("running", 2)]


def test_refused_incoming_migration_ends_the_destination_boot_only():
    boots = group_boots([ev("a", "prepare", 1), ev("b", "migrate", 2, "aborted")])
    assert [(b["host"], b["status"]) for b in boots] == [("a", "running"), ("b", "aborted")]

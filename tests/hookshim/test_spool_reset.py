"""A damaged spool is kept aside and a fresh spool declares the reset as its first event."""
import shutil
import sqlite3
import subprocess

import pytest

from hookshim.event import GENESIS_HASH, verify_event
from hookshim.spool import Spool
from hookshim.spool_reset import carve_seq, read_head
from tests.hookshim.helpers import REPO, SYSTEM_PYTHON, hook_event


def filled(path, n):
    """A spool with ``n`` events; returns the last one."""
    with Spool(str(path)) as sp:
        return [sp.append(hook_event(object="g%d" % i)) for i in range(n)][-1]


def kept_files(directory):
    return sorted(p.name for p in directory.iterdir() if ".corrupt-" in p.name)


def test_garbage_file_is_kept_aside_and_a_fresh_spool_declares_it(tmp_path):
    path = tmp_path / "spool.db"
    path.write_bytes(b"garbage!" * 4096)
    with Spool(str(path)) as sp:
        stored = sp.append(hook_event())
        reset, event = sp.latest()
    assert reset["kind"] == "spool_reset" and reset["host"] == "h1"
    assert reset["reset"]["head_hash"] == "unknown" and reset["reset"]["head_seq"] is None
    assert reset["prev_hash"] == GENESIS_HASH and verify_event(reset) == []
    assert event == stored and verify_event(stored, reset["hash"]) == []
    assert stored["seq"] == reset["seq"] + 1
    (kept,) = kept_files(tmp_path)
    assert (tmp_path / kept).read_bytes() == b"garbage!" * 4096
    assert reset["reset"]["kept_as"] == kept and kept in reset["reason"]


def test_readable_head_is_carried_and_the_chain_continues(tmp_path):
    path = tmp_path / "spool.db"
    last = filled(path, 5)
    damage_events_table(path)
    with Spool(str(path)) as sp:
        sp.append(hook_event())
        reset = sp.latest()[0]
        assert sp.last_reset()["head_seq"] == 5
    assert reset["seq"] == 6 and reset["prev_hash"] == last["hash"]
    assert reset["reset"]["head_hash"] == last["hash"]
    assert verify_event(reset, last["hash"]) == []


def damage_events_table(path):
    """Overwrite the events table's pages, keep the chain row readable."""
    db = sqlite3.connect(str(path))
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * 4096)
        f.write(b"\xff" * 4096)


def test_a_truncated_file_is_reset_with_the_last_seq_carved(tmp_path):
    path = tmp_path / "spool.db"
    filled(path, 30)
    with sqlite3.connect(str(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 4096)  # the last page gone
    head_seq, _ = read_head(str(path))
    assert head_seq is not None
    with Spool(str(path)) as sp:
        sp.append(hook_event())
        reset = sp.latest()[0]
    assert reset["kind"] == "spool_reset" and reset["seq"] == head_seq + 1


def test_an_unreadable_wal_is_not_silently_ignored(tmp_path):
    """SQLite ignores a WAL whose header is garbage: the spool would restart at seq 1."""
    live, host = tmp_path / "live", tmp_path / "after-reboot"
    live.mkdir(), host.mkdir()
    keep = Spool(str(live / "spool.db"))  # an open connection: nothing is checkpointed
    filled(live / "spool.db", 3)
    shutil.copy(live / "spool.db", host / "spool.db")  # the files as a crash leaves them
    (host / "spool.db-wal").write_bytes(b"\x00junk" * 2000)
    keep.close()
    with Spool(str(host / "spool.db")) as sp:
        sp.append(hook_event())
        first = sp.latest()[0]
    assert first["kind"] == "spool_reset" and first["seq"] > 3
    assert first["reset"]["head_hash"] == "unknown"


def test_carve_finds_the_highest_seq_in_raw_bytes(tmp_path):
    blob = tmp_path / "x"
    blob.write_bytes(b'..."seq":12,"shim":{}...garbage..."seq":7,"shim":..."seq":99,"sh')
    assert carve_seq([str(blob), str(tmp_path / "missing")]) == 12


APPENDER = """
import sys
sys.path.insert(0, %r)
from hookshim.spool import Spool
from tests.hookshim.helpers import hook_event
Spool(sys.argv[1]).append(hook_event(object=sys.argv[2]))
"""


@pytest.mark.slow
def test_concurrent_calls_on_a_damaged_spool_reset_it_once(tmp_path):
    path = tmp_path / "spool.db"
    path.write_bytes(b"not sqlite" * 10000)
    procs = [subprocess.Popen([SYSTEM_PYTHON, "-c", APPENDER % str(REPO), str(path), "g%d" % i],
                              cwd=str(REPO)) for i in range(12)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 12
    assert len(kept_files(tmp_path)) == 1
    with Spool(str(path)) as sp:
        events = sp.latest(limit=100)
    assert [e["kind"] for e in events] == ["spool_reset"] + ["hook"] * 12
    prev = events[0]["hash"]
    for ev in events[1:]:
        assert verify_event(ev, prev) == []
        prev = ev["hash"]


def test_the_forwarder_sees_a_reset_made_by_a_hook_call(tmp_path):
    path = tmp_path / "spool.db"
    filled(path, 2)
    forwarder_side = Spool(str(path))
    (tmp_path / "spool.db").rename(tmp_path / "old.db")  # what a reset does to the path
    filled(path, 1)
    assert forwarder_side.reopen_if_replaced()
    assert [e["object"] for e in forwarder_side.latest()] == ["g0"]
    assert not forwarder_side.reopen_if_replaced()
    forwarder_side.close()

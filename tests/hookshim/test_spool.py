"""The spool: gapless seq, hash chain, forwarder state machine, size bound with overflow."""
import sqlite3
import subprocess
import time

import pytest

from hookshim.spool import Spool, SpoolDamaged
from tests.hookshim.helpers import REPO, SYSTEM_PYTHON, assert_chain, hook_event


@pytest.fixture
def spool(tmp_path):
    sp = Spool(str(tmp_path / "spool.db"))
    yield sp
    sp.close()


def all_events(sp):
    return sp.latest(limit=10**6)


def ids(events):
    return [e["event_id"] for e in events]


def test_append_assigns_seq_and_chains(spool):
    stored = [spool.append(hook_event()) for _ in range(5)]
    assert [e["seq"] for e in stored] == [1, 2, 3, 4, 5]
    assert_chain(all_events(spool))
    assert all_events(spool) == stored


def test_spool_file_is_wal(spool):
    mode = sqlite3.connect(spool.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


APPENDER = """
import sys
sys.path.insert(0, %r)
from hookshim.spool import Spool
from tests.hookshim.helpers import hook_event
sp = Spool(sys.argv[1])
for _ in range(3):
    sp.append(hook_event(object=sys.argv[2]))
"""


@pytest.mark.slow
def test_64_concurrent_processes_get_gapless_seq(tmp_path):
    path = str(tmp_path / "spool.db")  # fresh: the processes also race to create it
    procs = [subprocess.Popen([SYSTEM_PYTHON, "-c", APPENDER % str(REPO), path, "g%d" % i],
                              cwd=str(REPO)) for i in range(64)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 64
    with Spool(path) as sp:
        events = all_events(sp)
        assert len(events) == 192
        assert_chain(events)
        assert sp.stats()["last_seq"] == 192


def test_claim_takes_oldest_first_and_locks(spool):
    stored = [spool.append(hook_event()) for _ in range(5)]
    first = spool.claim(limit=2)
    assert ids(first) == ids(stored[:2])
    assert ids(spool.claim(limit=10)) == ids(stored[2:])
    assert spool.claim() == []
    assert spool.stats()["depth"] == 5


def test_expired_lease_is_claimed_again(spool):
    ev = spool.append(hook_event())
    assert ids(spool.claim(lease_s=0.05)) == [ev["event_id"]]
    time.sleep(0.1)
    assert ids(spool.claim()) == [ev["event_id"]]


def test_release_returns_events_to_ready(spool):
    ev = spool.append(hook_event())
    spool.claim()
    assert spool.release([ev["event_id"]]) == 1
    assert ids(spool.claim()) == [ev["event_id"]]


def test_mark_sent_removes_from_depth(spool):
    a, _ = spool.append(hook_event()), spool.append(hook_event())
    spool.claim()
    spool.mark_sent([a["event_id"]])
    stats = spool.stats()
    assert (stats["depth"], stats["sent"]) == (1, 1)


def test_park_keeps_event_aside_until_unpark(spool):
    a, b = spool.append(hook_event()), spool.append(hook_event())
    spool.claim()
    spool.park(a["event_id"], "422 driver: bad")
    spool.release([b["event_id"]])
    assert ids(spool.claim()) == [b["event_id"]]
    stats = spool.stats()
    assert stats["parked"] == 1 and "422 driver: bad" in stats["last_error"]
    meta = spool.rows(state="parked")[0][0]
    assert (meta["state"], meta["error"]) == ("parked", "422 driver: bad")
    assert spool.unpark() == 1
    assert ids(spool.claim()) == [a["event_id"]]


def test_prune_deletes_only_sent_rows(spool):
    stored = [spool.append(hook_event()) for _ in range(4)]
    spool.claim(limit=3)
    spool.mark_sent(ids(stored[:2]))
    spool.park(stored[2]["event_id"], "bad")
    assert spool.prune(sent_older_than_s=3600, max_sent_rows=1) == 1
    assert spool.prune(sent_older_than_s=0, max_sent_rows=1000) == 1
    assert ids(all_events(spool)) == ids(stored[2:])
    assert spool.stats()["last_seq"] == 4
    assert spool.append(hook_event())["prev_hash"] == stored[3]["hash"]  # chain survives pruning


def test_stats_bytes_track_inserts_and_prunes(spool):
    stored = [spool.append(hook_event()) for _ in range(3)]
    full = spool.stats()["bytes"]
    spool.claim()
    spool.mark_sent(ids(stored))
    spool.prune(0, 0)
    assert full > 0 and spool.stats()["bytes"] == 0


def test_full_spool_writes_overflow_marker_instead_of_losing_calls(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), max_bytes=4000)
    big = "<domain>%s</domain>" % ("x" * 1000)
    stored = [sp.append(hook_event(xml=big, op="prepare")) for _ in range(2)]
    dropped = [sp.append(hook_event(xml=big, op="start")) for _ in range(3)]
    assert [e["kind"] for e in stored] == ["hook", "hook"]
    assert [e["kind"] for e in dropped] == ["overflow"] * 3
    events = all_events(sp)
    assert [e["kind"] for e in events] == ["hook", "hook", "overflow"]
    assert events[-1]["dropped"] == 3 and events[-1]["op"] == "start"
    assert events[-1]["xml"] is None
    assert_chain(events)
    assert sp.stats()["dropped"] == 3


def test_claimed_overflow_marker_is_not_rewritten(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), max_bytes=2000)
    big = "<domain>%s</domain>" % ("x" * 1000)
    sp.append(hook_event(xml=big))
    sp.append(hook_event(xml=big))
    claimed = sp.claim()
    assert claimed[-1]["kind"] == "overflow" and claimed[-1]["dropped"] == 1
    sp.append(hook_event(xml=big))
    events = all_events(sp)
    assert [e.get("dropped") for e in events] == [None, 1, 1]
    assert_chain(events)


def test_sent_rows_make_room_before_overflow(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), max_bytes=4000)
    big = "<domain>%s</domain>" % ("x" * 1000)
    first = [sp.append(hook_event(xml=big)) for _ in range(2)]
    sp.claim()
    sp.mark_sent(ids(first))
    later = [sp.append(hook_event(xml=big)) for _ in range(2)]
    assert [e["kind"] for e in later] == ["hook", "hook"]
    assert [e["seq"] for e in all_events(sp)] == [3, 4]


def test_meta_round_trips(spool):
    assert spool.get_meta("etag") is None
    spool.set_meta("etag", '"v7"')
    spool.set_meta("etag", '"v8"')
    assert spool.get_meta("etag") == '"v8"'


def test_latest_returns_newest_in_seq_order(spool):
    stored = [spool.append(hook_event()) for _ in range(5)]
    assert ids(spool.latest(limit=2)) == ids(stored[3:])
    spool.claim(limit=1)
    assert ids(spool.latest(state="locked")) == ids(stored[:1])


def test_a_damaged_file_is_reported_without_recover(tmp_path):
    path = tmp_path / "spool.db"
    path.write_bytes(b"this is not a database" * 1000)
    with pytest.raises(SpoolDamaged, match="file is not a database"):
        Spool(str(path), recover=False)
    assert path.read_bytes() == b"this is not a database" * 1000  # untouched


def test_reopened_spool_continues_the_chain(tmp_path):
    path = str(tmp_path / "spool.db")
    with Spool(path) as sp:
        sp.append(hook_event())
    with Spool(path) as sp:
        sp.append(hook_event())
        assert_chain(all_events(sp))

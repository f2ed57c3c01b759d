"""The hand-over (issue 14): a hook call gives its event to the running forwarder over
``<state_dir>/spool.sock``, which group-commits it and answers only after its COMMIT; every
failure falls back to the call's own direct write, and nothing is ever written twice.

Real launcher processes, called as libvirtd calls them; the forwarder side is the real
HandoffServer, in this process or (where it must be stopped or killed) in a child process.
No timing assertions: timeouts only stop a hung test.
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

from hookshim import handoff, spool_group
from hookshim.handoff_server import HandoffServer
from hookshim.spool import SPOOL_NAME, Spool
from tests.hookshim.helpers import REPO, assert_chain, hook_event
from tests.hookshim.test_storm import acknowledged, held_flock, queue_files, spool_events, \
    start_calls


def spool_opener(state_dir):
    return lambda: Spool(str(state_dir / SPOOL_NAME), busy_timeout_s=10.0)


@pytest.fixture
def listening(shim):
    """The shim installed (libxl) and a hand-over listener on its state dir."""
    shim.install("libxl")
    shim.state_dir.mkdir(parents=True, exist_ok=True)
    server = HandoffServer(str(shim.state_dir), spool_opener(shim.state_dir), nice=None)
    server.start()
    yield server
    server.stop()


SERVER = """
import sys, time
sys.path.insert(0, {repo!r})
from hookshim.handoff_server import HandoffServer
from hookshim.spool import Spool
s = HandoffServer({state!r}, lambda: Spool({db!r}, busy_timeout_s=10.0), nice=None)
s.start()
print("listening", flush=True)
time.sleep(3600)
"""


def server_process(shim, strace_to=None):
    """A HandoffServer in a child process (it is stopped or killed -9 by the tests)."""
    argv = [sys.executable, "-c", SERVER.format(repo=str(REPO), state=str(shim.state_dir),
                                                db=str(shim.state_dir / SPOOL_NAME))]
    if strace_to is not None:
        argv = ["strace", "-f", "-qq", "-o", str(strace_to), "-e",
                "trace=fsync,fdatasync,sendto,write,recvfrom,read"] + argv
    # its own process group: killing strace alone would leave the traced server running
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout.readline() == b"listening\n"
    return proc


def kill_server(proc):
    """SIGKILL the server's whole process group (strace and its tracee too), and reap."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    proc.stdout.close()


def test_a_call_hands_over_and_never_opens_the_spool_itself(shim, listening, tmp_path):
    """The event is committed by the listener; the call itself never opens spool.db nor
    loads sqlite (checked on the real process with strace)."""
    out = tmp_path / "strace.out"
    argv = ["strace", "-f", "-qq", "-o", str(out), "-e", "trace=openat,connect",
            str(shim.hooks_dir / "libxl"), "vm1", "prepare", "begin", "-"]
    proc = subprocess.run(argv, input=b"<domain type='xen'><name>vm1</name></domain>",
                          capture_output=True, cwd="/", env={"LC_ALL": "C",
                                                             "PATH": "/usr/bin:/bin"},
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    trace = out.read_text()
    assert "spool.sock" in trace                      # it connected
    assert SPOOL_NAME not in trace and "sqlite" not in trace, trace
    assert listening.committed == 1
    [ev] = spool_events(shim)
    assert (ev["object"], ev["op"], ev["exit_code"]) == ("vm1", "prepare", 0)
    assert queue_files(shim.state_dir) == []


def test_the_launcher_loads_no_spool_module_when_the_forwarder_takes_the_event(
        shim, listening, tmp_path):
    probe = tmp_path / "probe.py"
    launcher = (shim.hooks_dir / "libxl").read_text()
    # the launcher, with a look at sys.modules just before it leaves
    probe.write_text(launcher.replace(
        "launch(", "import posix\n_exit = posix._exit\n"
        "def _report(code):\n"
        "    spool = sorted(m for m in sys.modules if m in ('_sqlite3', 'hookshim.spool',"
        " 'hookshim.spool_group', 'hookshim.spool_schema', 'hookshim.limits'))\n"
        "    posix.write(2, repr(spool).encode())\n"
        "    _exit(code)\n"
        "posix._exit = _report\nlaunch(", 1))
    proc = subprocess.run(["/usr/bin/python3", "-I", "-S", str(probe), "vm1", "start",
                           "begin", "-"], input=b"<domain/>", capture_output=True, cwd="/",
                          timeout=120)
    assert proc.returncode == 0
    assert proc.stderr == b"[]"
    assert listening.committed == 1


@pytest.mark.slow
def test_128_concurrent_calls_through_the_forwarder_recorded_once_gapless(shim, listening):
    tags = ["h%d" % i for i in range(128)]
    assert acknowledged(start_calls(shim, tags)) == set(tags)
    events = spool_events(shim)
    assert sorted(e["extra"] for e in events) == sorted(tags)
    assert listening.committed == 128      # none fell back
    assert queue_files(shim.state_dir) == []


def test_no_forwarder_or_a_stale_socket_means_the_direct_write_at_once(shim):
    """No socket file, then a socket file nobody listens on (a forwarder killed -9): the
    call writes itself without waiting (handoff_timeout is an hour here)."""
    shim.install("libxl", handoff_timeout="1h")
    assert shim.call("libxl", extra="no-socket", timeout=60).returncode == 0
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(shim.state_dir / handoff.SOCKET))
    stale.close()                                   # the file stays, nobody listens
    proc = shim.call("libxl", extra="stale", timeout=60)
    assert proc.returncode == 0 and proc.stderr == b""
    assert [e["extra"] for e in spool_events(shim)] == ["no-socket", "stale"]


def test_handoff_false_writes_directly_even_with_a_listener(shim, listening):
    shim.set(handoff="false")
    assert shim.call("libxl", extra="direct").returncode == 0
    assert listening.committed == 0
    assert [e["extra"] for e in spool_events(shim)] == ["direct"]


def test_a_stopped_forwarder_costs_the_deadline_then_the_call_writes_itself_once(shim):
    """SIGSTOPped forwarder: the call gives up after handoff_timeout and writes itself;
    resumed, the forwarder reads the event still in its socket, commits it - and the spool
    skips it, already there. One row, chain intact."""
    shim.install("libxl", handoff_timeout="0.5s")
    shim.call("libxl", extra="first")
    server = server_process(shim)
    try:
        server.send_signal(signal.SIGSTOP)
        proc = shim.call("libxl", extra="while-stopped", timeout=120)
        assert proc.returncode == 0 and proc.stderr == b""
        assert [e["extra"] for e in spool_events(shim)] == ["first", "while-stopped"]
        server.send_signal(signal.SIGCONT)
        assert shim.call("libxl", extra="resumed").returncode == 0   # handed over again
        events = spool_events(shim)
        assert [e["extra"] for e in events] == ["first", "while-stopped", "resumed"]
    finally:
        kill_server(server)


@pytest.mark.slow
def test_forwarder_killed_9_during_a_storm_loses_no_acknowledged_call(shim):
    shim.install("libxl")
    shim.call("libxl", extra="warm")
    rng = random.Random(1414)
    for wave in range(3):
        server = server_process(shim)
        tags = ["k%d-%d" % (wave, i) for i in range(48)]
        procs = start_calls(shim, tags)
        time.sleep(rng.uniform(0.0, 0.4))
        kill_server(server)
        assert acknowledged(procs) == set(tags)      # all answer, none hangs
        recorded = [e["extra"] for e in spool_events(shim)]   # once each, chain valid
        assert set(tags) <= set(recorded)
    assert shim.call("libxl", extra="after").returncode == 0   # stale socket: direct
    assert spool_events(shim)[-1]["extra"] == "after"


def test_a_commit_that_fails_is_answered_no_and_the_call_writes_itself(shim):
    shim.install("libxl")
    shim.state_dir.mkdir(parents=True, exist_ok=True)

    def broken():
        raise OSError("disk on fire")

    server = HandoffServer(str(shim.state_dir), broken, nice=None)
    server.start()
    try:
        with pytest.raises(handoff.HandoffFailed, match="refused: NO commit failed"):
            handoff.hand_over(str(shim.state_dir), hook_event(extra="x"))
        proc = shim.call("libxl", extra="fell-back")
        assert proc.returncode == 0 and proc.stderr == b""
        assert [e["extra"] for e in spool_events(shim)] == ["fell-back"]
    finally:
        server.stop()


def test_the_answer_comes_only_after_the_commit_was_fsynced(shim, tmp_path):
    """Durability, on the real syscalls of the forwarder side: the fdatasync/fsync of the
    COMMIT comes before the write of the call's "OK"."""
    shim.install("libxl")
    shim.call("libxl", extra="first")                # the spool exists
    out = tmp_path / "server.strace"
    server = server_process(shim, strace_to=out)
    try:
        assert shim.call("libxl", extra="handed").returncode == 0
    finally:
        kill_server(server)
    lines = out.read_text().splitlines()
    ok = [i for i, line in enumerate(lines) if '"OK ' in line and ("sendto(" in line or
                                                                 "write(" in line)]
    synced = [i for i, line in enumerate(lines) if "fsync(" in line or "fdatasync(" in line]
    assert ok and synced, lines[-20:]
    assert min(synced) < ok[0]
    assert [e["extra"] for e in spool_events(shim)] == ["first", "handed"]


def test_a_slow_or_hostile_client_never_blocks_the_others(shim, listening):
    path = str(shim.state_dir / handoff.SOCKET)
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(path)
    stalled.sendall(handoff.MAGIC + b"0000")          # half a header, then nothing
    garbage = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    garbage.connect(path)
    garbage.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert garbage.recv(100).startswith(b"NO not a hand-over")
    huge = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    huge.connect(path)
    huge.sendall(handoff.MAGIC + b"%016x" % (handoff.MAX_EVENT_BYTES + 1))
    assert huge.recv(100).startswith(b"NO event of")
    not_event = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    not_event.connect(path)
    import marshal

    body = marshal.dumps(["not", "an", "event"])
    not_event.sendall(handoff.MAGIC + b"%016x" % len(body) + body)
    assert not_event.recv(100).startswith(b"NO not an event")
    # meanwhile a real call is served
    assert handoff.hand_over(str(shim.state_dir), hook_event(extra="ok")) == {
        "kind": "hook", "dropped": 0}
    assert [e["extra"] for e in spool_events(shim)] == ["ok"]
    for s in (stalled, garbage, huge, not_event):
        s.close()


def test_a_stalled_client_is_dropped_after_the_read_deadline(shim):
    shim.state_dir.mkdir(parents=True)
    server = HandoffServer(str(shim.state_dir), spool_opener(shim.state_dir),
                           read_deadline_s=0.2, nice=None)
    server.start()
    try:
        stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stalled.connect(str(shim.state_dir / handoff.SOCKET))
        stalled.sendall(handoff.MAGIC)
        stalled.settimeout(60)
        assert stalled.recv(100) == b""               # closed, no answer: the call falls back
    finally:
        server.stop()


def test_a_connection_from_another_user_is_refused(shim, listening):
    listening._uids = {4242}                          # as if we were someone else
    with pytest.raises(handoff.HandoffFailed, match="no answer|closed"):
        handoff.hand_over(str(shim.state_dir), hook_event(extra="x"), deadline_s=30)
    assert listening.committed == 0 and spool_events(shim) == []


def test_queued_direct_writes_are_committed_in_the_forwarders_batch(tmp_path):
    """A call that fell back queues its hand-over file for the flock: the forwarder's
    commit takes it too (one transaction), and removes it after COMMIT."""
    state = tmp_path / "state"
    (state / spool_group.QUEUE).mkdir(parents=True)
    spool_group._enqueue(str(state / spool_group.QUEUE),
                         spool_group.fit_event(hook_event(extra="queued")))
    with Spool(str(state / SPOOL_NAME)) as sp:
        trace = []
        stored, fitted = spool_group.commit_handed(sp, [hook_event(extra="handed")],
                                                   str(state), trace=trace)
        assert trace == ["locked", "leading 2", "committed"]
        rows = [e for _, e in sp.rows(10, None)]
    assert [e["extra"] for e in rows] == ["handed", "queued"]
    assert_chain(rows)
    assert len(stored) == 2 and fitted[0]["extra"] == "handed"
    assert queue_files(state) == []


def test_the_forwarder_commits_without_the_flock_when_a_direct_writer_holds_it(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    with held_flock(state / spool_group.LOCK), Spool(str(state / SPOOL_NAME)) as sp:
        trace = []
        spool_group.commit_handed(sp, [hook_event(extra="x")], str(state),
                                  lock_wait_s=0.2, trace=trace)
        assert trace == ["lock timeout", "leading 1", "committed"]
        assert [e["extra"] for _, e in sp.rows(10, None)] == ["x"]


def test_a_state_dir_too_long_for_a_socket_path_means_no_hand_over(tmp_path):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    with pytest.raises(OSError, match="longer than"):
        HandoffServer(str(deep), spool_opener(deep), nice=None)
    with pytest.raises(handoff.HandoffFailed, match="no forwarder listening"):
        handoff.hand_over(str(deep), hook_event())


def test_stop_removes_only_its_own_socket(shim):
    shim.state_dir.mkdir(parents=True)
    first = HandoffServer(str(shim.state_dir), spool_opener(shim.state_dir), nice=None)
    first.start()
    second = HandoffServer(str(shim.state_dir), spool_opener(shim.state_dir), nice=None)
    second.start()                                   # a newer forwarder took the path over
    first.stop()
    assert (shim.state_dir / handoff.SOCKET).exists()
    assert handoff.hand_over(str(shim.state_dir), hook_event(extra="new"))["kind"] == "hook"
    second.stop()
    assert not (shim.state_dir / handoff.SOCKET).exists()
    assert second.committed == 1


@pytest.mark.parametrize("reply", [b"OK\n", b"NO spool damaged\n", b"OK hook x\n", b"??\n"])
def test_replies_other_than_ok_fail(reply):
    with pytest.raises(handoff.HandoffFailed):
        handoff.parse_reply(reply)


def test_reply_ok_carries_kind_and_dropped():
    assert handoff.parse_reply(b"OK overflow 7\n") == {"kind": "overflow", "dropped": 7}


def test_the_socket_is_private(shim, listening):
    mode = os.stat(shim.state_dir / handoff.SOCKET).st_mode & 0o777
    assert mode & 0o077 == 0, oct(mode)


def test_status_says_whether_the_forwarder_takes_the_calls(shim, tmp_path):
    from tests.hookshim.test_cli import cli

    shim.install("libxl")

    def state():
        prom = tmp_path / "h.prom"
        stats = json.loads(cli(shim, "status", "--json", "--prometheus", str(prom)).stdout)
        gauge = [x for x in prom.read_text().splitlines()
                 if x.startswith("hookshim_handoff_listening{")][0].rsplit(" ", 1)[1]
        return stats["handoff"], gauge

    assert state() == ("no forwarder", "0")
    shim.state_dir.mkdir(parents=True, exist_ok=True)
    server = HandoffServer(str(shim.state_dir), spool_opener(shim.state_dir), nice=None)
    server.start()
    try:
        assert state() == ("listening", "1")
    finally:
        server.stop()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(shim.state_dir / handoff.SOCKET))
    stale.close()
    assert state() == ("stale socket", "0")
    shim.set(handoff="false")
    assert state() == ("off", "0")


def test_a_full_spool_answers_overflow_through_the_hand_over(tmp_path):
    """The size bound applies to handed-over events exactly as to direct writes: past it
    the call's details go into the overflow marker, and the call learns it (its warning)."""
    state = tmp_path / "state"
    state.mkdir()
    server = HandoffServer(str(state), lambda: Spool(str(state / SPOOL_NAME), max_bytes=4096),
                           nice=None)
    server.start()
    try:
        replies = [handoff.hand_over(str(state), hook_event(extra=str(i), xml="<d/>" * 200))
                   for i in range(4)]
    finally:
        server.stop()
    assert replies[0] == {"kind": "hook", "dropped": 0}
    assert replies[-1]["kind"] == "overflow" and replies[-1]["dropped"] >= 1
    with Spool(str(state / SPOOL_NAME)) as sp:
        rows = [e for _, e in sp.rows(10, None)]
    assert_chain(rows)
    assert rows[-1]["kind"] == "overflow"


def test_writers_of_one_process_queue_on_the_shared_lock_not_in_sqlites_busy_handler(tmp_path):
    """The forwarder's sender and its hand-over listener share a write lock: the second
    writer waits for the first's COMMIT on it, so it never meets SQLite's busy handler (a
    busy timeout of 10 ms here would otherwise fail it with "database is locked")."""
    import threading

    lock = threading.Lock()
    path = str(tmp_path / SPOOL_NAME)
    first = Spool(path, write_lock=lock)
    second_ready = threading.Event()
    results = []

    def second():
        sp = Spool(path, busy_timeout_s=0.01, write_lock=lock)
        second_ready.set()
        try:
            sp.set_meta("k", "second")
            results.append("second committed")
        except Exception as exc:  # noqa: BLE001 - the failure this test guards against
            results.append(repr(exc))
        finally:
            sp.close()

    with first._write():
        first._db.execute("INSERT OR REPLACE INTO meta VALUES ('k', 'first')")
        t = threading.Thread(target=second)
        t.start()
        second_ready.wait(30)
        time.sleep(0.2)                 # the second writer is now waiting on the lock
        results.append("first committing")
    t.join(30)
    first.close()
    assert results == ["first committing", "second committed"]
    with Spool(path) as sp:
        assert sp.get_meta("k") == "second"


def test_a_failing_event_in_a_batch_is_refused_alone(tmp_path):
    import marshal

    from hookshim.handoff_server import _Conn

    state = tmp_path / "state"
    state.mkdir()
    server = HandoffServer(str(state), spool_opener(state), nice=None)
    pairs = [socket.socketpair() for _ in range(3)]
    bad = hook_event(extra="bad")
    bad["extra"] = {1, 2}                          # marshal-able, not JSON: seal fails
    ready = []
    for (mine, theirs), ev in zip(pairs, (hook_event(extra="a"), bad, hook_event(extra="b"))):
        conn = _Conn(mine, 0)
        conn.event = marshal.loads(marshal.dumps(ev))
        ready.append(conn)
    server._commit(ready)
    answers = [theirs.recv(100) for _, theirs in pairs]
    assert answers[0].startswith(b"OK hook") and answers[2].startswith(b"OK hook")
    assert answers[1].startswith(b"NO commit failed: TypeError")
    with Spool(str(state / SPOOL_NAME)) as sp:
        rows = [e for _, e in sp.rows(10, None)]
    assert [e["extra"] for e in rows] == ["a", "b"]
    assert_chain(rows)
    server._unlisten()

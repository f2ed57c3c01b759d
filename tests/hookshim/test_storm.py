"""Hook storms (issue 14): many concurrent real hook processes, group commit behind a flock
(hookshim/spool_group.py). Every acknowledged call (exit 0 seen by the caller) is in the
spool, seq is gapless, the chain valid, nothing is written twice, and killing any process
- the group-commit leader included - never loses an acknowledged event nor hangs the rest.
No timing assertions: the timeouts below only stop a hung test."""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from hookshim import spool_group
from hookshim.spool import SPOOL_NAME, Spool
from tests.hookshim.conftest import HOOK_ENV
from tests.hookshim.helpers import REPO, assert_chain, hook_event

XML = b"<domain type='xen'><name>storm</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>" \
      b"<devices>" + b"<disk type='file'/>" * 300 + b"</devices></domain>"


def start_calls(shim, tags, op="prepare"):
    """Start one launcher process per tag (the tag is the call's `extra` argument)."""
    procs = {}
    for tag in tags:
        p = subprocess.Popen([str(shim.hooks_dir / "libxl"), "guest", op, "begin", tag],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, cwd="/", env=dict(HOOK_ENV))
        p.stdin.write(XML)
        p.stdin.close()
        procs[tag] = p
    return procs


def acknowledged(procs, timeout=300):
    """Tags of the calls that answered 0 (what libvirtd would have acted on)."""
    acked = set()
    for tag, p in procs.items():
        code = p.wait(timeout=timeout)
        err = p.stderr.read()
        p.stderr.close()
        if code == 0:
            assert err == b"", err
            acked.add(tag)
    return acked


def spool_events(shim):
    events = shim.events()
    assert_chain(events)
    ids = [e["event_id"] for e in events]
    assert len(ids) == len(set(ids))
    return events


def queue_files(state_dir):
    queue = state_dir / spool_group.QUEUE
    return sorted(os.listdir(queue)) if queue.exists() else []


@pytest.mark.slow
def test_128_concurrent_hook_processes_all_recorded_once_gapless(shim):
    shim.install("libxl")
    tags = ["call-%d" % i for i in range(128)]
    acked = acknowledged(start_calls(shim, tags))
    assert acked == set(tags)
    events = spool_events(shim)
    assert sorted(e["extra"] for e in events) == sorted(tags)
    assert queue_files(shim.state_dir) == []   # every hand-over file removed after commit


@pytest.mark.slow
def test_kill_9_at_random_points_loses_no_acknowledged_call(shim):
    shim.install("libxl")
    rng = random.Random(1414)
    lost_total = 0
    for wave in range(3):
        tags = ["w%d-%d" % (wave, i) for i in range(48)]
        procs = start_calls(shim, tags)
        victims = rng.sample(tags, 16)
        deadline = [rng.uniform(0.0, 0.6) for _ in victims]
        t0 = time.monotonic()
        for tag, at in sorted(zip(victims, deadline), key=lambda x: x[1]):
            time.sleep(max(0.0, at - (time.monotonic() - t0)))
            try:
                procs[tag].send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
        acked = acknowledged(procs)   # the survivors all answer: nobody is left hanging
        assert set(tags) - set(victims) <= acked
        recorded = {e["extra"] for e in spool_events(shim)}
        assert acked <= recorded
        lost_total += len(set(tags) - recorded)
    # A killed call may or may not be recorded (killed before or after its commit); a
    # later call's leader commits whatever a killed one had queued.
    assert lost_total <= 48
    shim.call("libxl", extra="after")   # the next leader commits any leftover hand-over
    # (a call killed before renaming its half-written ".name" leaves that: swept when old)
    assert [f for f in queue_files(shim.state_dir) if not f.startswith(".")] == []


def test_leftovers_of_killed_calls_are_swept_once_old(tmp_path):
    state = tmp_path / "state"
    queue = state / spool_group.QUEUE
    queue.mkdir(parents=True)
    for name in (".1-2.ev", "3-4.ev.alone", ".5-6.ev", "7-8.ev.bad"):
        (queue / name).write_bytes(b"x")
    old = time.time() - spool_group.STALE_S - 5
    for name in (".1-2.ev", "3-4.ev.alone", "7-8.ev.bad"):
        os.utime(queue / name, (old, old))
    with Spool(str(state / SPOOL_NAME)) as sp:
        spool_group.append(sp, hook_event(extra="ok"), str(state))
    # the recent half-written file may belong to a live call; .bad is kept for the operator
    assert queue_files(state) == [".5-6.ev", "7-8.ev.bad"]


LEADER = """
import sys, time
sys.path.insert(0, {repo!r})
from hookshim import spool_group
from hookshim.spool import Spool
from tests.hookshim.helpers import hook_event

class StopAt(list):
    def append(self, step):
        if step.startswith({stop_at!r}):
            open({marker!r}, "w").close()
            time.sleep(3600)

spool_group.append(Spool({db!r}), hook_event(extra="leader"), {state!r}, trace=StopAt())
"""


def wait_for(condition, what, timeout=120):
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "gave up waiting for " + what
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("stop_at", ["leading", "committed"])
def test_leader_killed_mid_group_commit(shim, tmp_path, stop_at):
    """A leader that holds the lock with followers queued behind it is killed -9 before
    its COMMIT ("leading") or after it but before removing the hand-over files
    ("committed"). The followers take over: all recorded, once, chain intact."""
    shim.install("libxl")
    shim.call("libxl", extra="first")   # the spool exists
    marker = tmp_path / "leader-stopped"
    leader = subprocess.Popen([sys.executable, "-c", LEADER.format(
        repo=str(REPO), stop_at=stop_at, marker=str(marker),
        db=str(shim.state_dir / SPOOL_NAME), state=str(shim.state_dir))])
    wait_for(marker.exists, "the leader to stop")
    tags = ["f%d" % i for i in range(12)]
    procs = start_calls(shim, tags)
    wait_for(lambda: len([f for f in queue_files(shim.state_dir)
                          if f.endswith(spool_group.SUFFIX)]) >= 13, "the followers to queue")
    assert all(p.poll() is None for p in procs.values())   # blocked behind the leader
    leader.kill()
    leader.wait()
    assert acknowledged(procs) == set(tags)
    events = spool_events(shim)
    extras = [e["extra"] for e in events]
    assert sorted(extras) == sorted(["first", "leader"] + tags)   # the leader's event too:
    # before its COMMIT it was still queued (a follower committed it), after it, committed
    assert queue_files(shim.state_dir) == []


class held_flock:
    """Another process holding ``path``'s flock, neither finishing nor dying, until exit."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c",
                                      "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\n"
                                      "fcntl.flock(f, fcntl.LOCK_EX)\nprint('held', flush=True)"
                                      "\ntime.sleep(3600)", str(self.path)],
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout.readline() == b"held\n"
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


def test_lock_not_free_in_time_writes_alone(tmp_path):
    """A holder that neither finishes nor dies: the caller gives up waiting after the
    deadline, takes its hand-over back and appends by itself."""
    state = tmp_path / "state"
    state.mkdir()
    db = str(state / SPOOL_NAME)
    with Spool(db) as sp:
        sp.append(hook_event(extra="before"))
    with held_flock(state / spool_group.LOCK):
        trace = []
        with Spool(db) as sp:
            stored = spool_group.append(sp, hook_event(extra="alone"), str(state),
                                        lock_wait_s=0.2, trace=trace)
        assert trace == ["queued", "lock timeout", "committed"]
        assert stored["seq"] == 2
        with Spool(db) as sp:
            rows = [ev for _, ev in sp.rows(10, None)]
        assert [e["extra"] for e in rows] == ["before", "alone"]
        assert_chain(rows)
        assert os.listdir(state / spool_group.QUEUE) == []
    # the SIGALRM used for the deadline is gone again
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.default_int_handler)


def test_an_event_already_committed_is_not_written_twice(tmp_path):
    """A leader killed between COMMIT and removing the files leaves them behind: the next
    leader finds their event_ids in the spool (inside its transaction) and skips them."""
    state = tmp_path / "state"
    state.mkdir()
    db = str(state / SPOOL_NAME)
    ev = hook_event(extra="once")
    with Spool(db) as sp:
        sp.append(dict(ev))
        (state / spool_group.QUEUE).mkdir()
        spool_group._enqueue(str(state / spool_group.QUEUE), spool_group.fit_event(dict(ev)))
        trace = []
        spool_group.append(sp, hook_event(extra="next"), str(state), trace=trace)
        assert trace == ["queued", "locked", "leading 2", "committed", "removed"]
        rows = [e for _, e in sp.rows(10, None)]
    assert [e["extra"] for e in rows] == ["once", "next"]
    assert_chain(rows)


def test_a_queued_file_that_is_not_an_event_is_set_aside(tmp_path):
    state = tmp_path / "state"
    (state / spool_group.QUEUE).mkdir(parents=True)
    (state / spool_group.QUEUE / ("0-1" + spool_group.SUFFIX)).write_bytes(b"\x00garbage")
    with Spool(str(state / SPOOL_NAME)) as sp:
        spool_group.append(sp, hook_event(extra="ok"), str(state))
        assert [e["extra"] for _, e in sp.rows(10, None)] == ["ok"]
    assert queue_files(state) == ["0-1" + spool_group.SUFFIX + ".bad"]


# -- durability: the order of fsync, hand-over removal and answer ---------------------------

def strace_calls(shim, tags):
    """Run the calls under strace -f; [(pid, syscall line)] in the order they happened."""
    out = shim.root / "strace.out"
    argv = ["strace", "-f", "-tt", "-qq", "-o", str(out), "-e",
            "trace=fsync,fdatasync,unlink,rename,exit_group,flock,pwrite64,write",
            "/bin/sh", "-c", " & ".join(
                "%s guest prepare begin %s </dev/null" % (shim.hooks_dir / "libxl", t)
                for t in tags) + " & wait"]
    subprocess.run(argv, check=True, env=dict(HOOK_ENV), cwd="/", timeout=300)
    return [line.split(None, 1) for line in out.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_every_call_answers_only_after_its_event_was_fsynced(shim):
    """The durability argument, checked on real processes: a call exits (answers libvirtd)
    only after the WAL fsync of the transaction holding its event - its own, as leader, or
    a leader's whose removal of its hand-over file it saw. Power loss drops only what was
    not fsynced, so an acknowledged event survives it."""
    shim.install("libxl")
    shim.call("libxl", extra="warm")
    tags = ["s%d" % i for i in range(8)]
    lines = strace_calls(shim, tags)
    fsync_at, removed_at, exit_at = {}, {}, {}
    for i, (pid, call) in enumerate(lines):
        if call.split(None, 1)[1].startswith(("fsync(", "fdatasync(")):
            fsync_at.setdefault(pid, []).append(i)
        elif "unlink(" in call and spool_group.QUEUE in call:
            name = call.split('"')[1]
            removed_at[name] = (pid, i)
        elif "exit_group(" in call:
            exit_at[pid] = i
    events = spool_events(shim)
    assert sorted(e["extra"] for e in events) == sorted(["warm"] + tags)
    assert len(removed_at) == len(tags)   # each hand-over file removed exactly once
    for name, (leader, i) in removed_at.items():
        # the leader fsynced (COMMIT, synchronous=FULL) before removing the hand-over files
        assert any(f < i for f in fsync_at.get(leader, [])), name
    # every call (each is one pid whose rename put a file in the queue) exits after the
    # removal of its file, which came after the fsync
    for pid, call in lines:
        if "rename(" in call and spool_group.QUEUE in call:
            name = call.split('"')[3]
            assert exit_at[pid] > removed_at[name][1], (pid, name)

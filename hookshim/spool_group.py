r"""Group commit of concurrent hook calls (hook storms: docs/hookshim.md "Hook storms").

Dozens of hook calls at once (autostart after a reboot, an evacuation) used to queue on
SQLite's write lock, whose busy handler sleeps and polls (1, 2, 5, 10 ... 100 ms), and each
then paid its own fsync. Now a call

1. queues its event: ``<state_dir>/spool.queue/<time_ns>-<pid>.ev`` (marshal, written under a
   dot-name and renamed, so a reader never sees half a file; not fsynced: it is not the
   record, only the hand-over);
2. waits for ``<state_dir>/spool.lock`` with ``flock`` (the kernel wakes a waiter the moment
   the lock is free: no sleep-and-poll);
3. holding the lock, looks at its queued file:

   - gone: a leader committed it (a leader removes files only after its COMMIT returned,
     i.e. after SQLite fsynced the WAL, ``synchronous=FULL``): done;
   - still there: it is the leader. It commits every queued event (up to ``MAX_BATCH``, in
     file-name order: arrival order) in ONE transaction, one fsync, then removes their
     files, then lets the lock go.

The spool (seq, prev_hash, hash, size bound) is unchanged: the leader seals each event
inside the transaction exactly as ``Spool.append`` does, so seq stays gapless and the chain
valid. Duplicates are impossible: inside the transaction the leader skips any event_id the
spool already holds (a leader killed between COMMIT and removing the files; a follower that
timed out and wrote itself).

Nothing waits forever: a call that cannot get the lock within ``LOCK_WAIT_S`` (a holder
stopped, not dead - a dead holder's flock is released by the kernel) takes its file back
(rename; if the file is already gone a leader committed it) and appends by itself through
SQLite's own lock, as before.
"""

import marshal
import posix
import time

from hookshim.fs import join
from hookshim.limits import fit_event

QUEUE = "spool.queue"      # the hand-over directory in the state dir
LOCK = "spool.lock"        # the flock'd lock file in the state dir
LOCK_WAIT_S = 5.0          # then write alone (through SQLite's busy handler)
MAX_BATCH = 256            # events per group commit (the rest: the next leader)
SUFFIX = ".ev"
STALE_S = 600.0            # leftovers of killed calls older than this are swept


class LockTimeout(Exception):
    """The group-commit lock was not free within the deadline."""


def append(spool, ev, state_dir, lock_wait_s=LOCK_WAIT_S, trace=None):
    """Commit ``ev`` (a dict) to ``spool``, together with whatever other calls queued;
    returns when ``ev`` is committed (fsynced) by this process or a leader. Returns the
    stored event when this process committed it, else ``ev`` as queued (a leader committed
    it). ``spool``: a Spool, or a function that opens one - called only when this process
    writes (a follower never connects to SQLite). ``trace``: a list the steps are appended
    to (tests check their order)."""
    ev = fit_event(dict(ev))
    queue = join(state_dir, QUEUE)
    try:
        path = _enqueue(queue, ev)
    except FileNotFoundError:   # the first call: no queue yet (posix, not os: fs.py)
        try:
            posix.mkdir(queue, 0o700)
        except FileExistsError:
            pass
        path = _enqueue(queue, ev)
    _note(trace, "queued")
    fd = posix.open(join(state_dir, LOCK), posix.O_RDWR | posix.O_CREAT | posix.O_CLOEXEC,
                    0o600)
    try:
        try:
            _lock(fd, lock_wait_s)
        except LockTimeout:
            _note(trace, "lock timeout")
            return _alone(spool, ev, path, trace)
        _note(trace, "locked")
        if not _exists(path):
            _note(trace, "committed by a leader")
            return ev
        return _lead(spool, ev, queue, path, trace)
    finally:
        posix.close(fd)   # releases the flock


def _open(spool):
    return spool() if callable(spool) else spool


def _note(trace, what):
    if trace is not None:
        trace.append(what)


def _enqueue(queue, ev):
    name = "%020d-%d%s" % (time.time_ns(), posix.getpid(), SUFFIX)
    tmp = join(queue, "." + name)
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_NOFOLLOW |
                    posix.O_CLOEXEC, 0o600)
    try:
        view = memoryview(marshal.dumps(ev))
        while view:
            view = view[posix.write(fd, view):]
    finally:
        posix.close(fd)
    path = join(queue, name)
    posix.rename(tmp, path)
    return path


def _exists(path):
    try:
        posix.stat(path)
    except FileNotFoundError:
        return False
    return True


def _lock(fd, wait_s):
    """flock(LOCK_EX) within ``wait_s`` seconds, else LockTimeout. A blocked flock is woken
    by the kernel when the holder unlocks or dies; SIGALRM bounds the wait."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    import _signal   # not signal: that one imports enum (~1 ms)

    def expired(signum, frame):
        raise LockTimeout()

    previous = _signal.signal(_signal.SIGALRM, expired)
    _signal.setitimer(_signal.ITIMER_REAL, wait_s)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        _signal.signal(_signal.SIGALRM, previous)


def _lead(spool, own, queue, own_path, trace):
    """Commit the queue (own event included) in one transaction; remove the committed
    files after COMMIT; return own's stored event."""
    batch = _collect(queue, own, own_path)
    _note(trace, "leading %d" % len(batch))
    try:
        stored = _open(spool).append_batch([ev for _, ev in batch])
    except BaseException:
        # Not committed (disk full, a stuck writer...): this call answers per
        # on_record_failure, so its event must not be committed later by another leader.
        # The other calls' files stay: each owner tries again itself.
        _remove(own_path)
        raise
    _note(trace, "committed")
    for path, _ in batch:
        try:
            posix.unlink(path)
        except FileNotFoundError:
            pass
    _note(trace, "removed")
    return stored.get(own["event_id"], own)


def commit_handed(spool, events, state_dir, lock_wait_s=LOCK_WAIT_S, trace=None):
    """The forwarder's group commit of events calls handed over (hookshim/handoff.py):
    ``events`` (dicts, fitted here) and, when the flock is had, whatever calls queued for
    the direct write, in ONE transaction; returns ({event_id: stored event}, events) once
    committed. Thread-safe (no SIGALRM: the flock is polled, and only while a direct writer
    holds it); without the flock within ``lock_wait_s`` it commits through SQLite's own lock
    and leaves the queue to its owners."""
    events = [fit_event(dict(ev)) for ev in events]
    fd = posix.open(join(state_dir, LOCK), posix.O_RDWR | posix.O_CREAT | posix.O_CLOEXEC,
                    0o600)
    try:
        locked = _lock_polling(fd, lock_wait_s)
        _note(trace, "locked" if locked else "lock timeout")
        queued = []
        if locked:
            queue = join(state_dir, QUEUE)
            try:
                queued = _collect(queue, None, None)
            except FileNotFoundError:
                queued = []
        seen = {ev["event_id"] for ev in events}
        batch = events + [ev for _, ev in queued if ev["event_id"] not in seen]
        _note(trace, "leading %d" % len(batch))
        stored = _open(spool).append_batch(batch)
        _note(trace, "committed")
        for path, _ in queued:
            _remove(path)
        return stored, events
    finally:
        posix.close(fd)


def _lock_polling(fd, wait_s):
    """flock(LOCK_EX) within ``wait_s`` seconds, polled (any thread); True when had."""
    import fcntl

    deadline = time.monotonic() + wait_s
    delay = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
        time.sleep(delay)
        delay = min(delay * 2, 0.01)


def _collect(queue, own, own_path):
    """[(path, event)] in name (arrival) order, own included, at most MAX_BATCH (``own``
    None: only what is queued)."""
    all_names = posix.listdir(queue)
    names = sorted(n for n in all_names if n.endswith(SUFFIX) and n[0] != ".")
    if len(names) != len(all_names):
        _sweep(queue, set(all_names) - set(names))
    own_name = own_path.rpartition("/")[2] if own_path else None
    batch = []
    for name in names:
        if len(batch) >= MAX_BATCH - 1 and name != own_name:
            continue
        path = join(queue, name)
        if name == own_name:
            batch.append((path, own))
            continue
        try:
            with open(path, "rb") as f:
                ev = marshal.loads(f.read())
        except FileNotFoundError:
            continue   # taken back by a call that timed out, or committed meanwhile
        except (EOFError, ValueError, TypeError, OSError) as exc:
            _discard(path, exc)
            continue
        if isinstance(ev, dict) and isinstance(ev.get("event_id"), str):
            batch.append((path, ev))
        else:
            _discard(path, "not an event")
    return batch


def _sweep(queue, names, max_age_s=STALE_S):
    """Remove what killed calls left: half-written ``.*`` files (killed before the rename)
    and ``.alone`` files (killed while writing alone), once older than ``max_age_s`` - no
    live call keeps one that long (a call waits LOCK_WAIT_S, then SQLite's 10 s)."""
    now = time.time()
    for name in names:
        if not (name[0] == "." or name.endswith(".alone")):
            continue   # .bad files stay for the operator
        path = join(queue, name)
        try:
            if now - posix.stat(path).st_mtime > max_age_s:
                posix.unlink(path)
        except OSError:
            pass


def _discard(path, why):
    """A queued file that is not an event (never written by this module): set aside."""
    from hookshim import shimlog

    shimlog.log("err", "spool queue: %s is not a readable event (%s); renamed .bad"
                % (path, why))
    try:
        posix.rename(path, path + ".bad")
    except OSError:
        pass


def _alone(spool, ev, path, trace):
    """No lock in time: take the file back and append through SQLite's own lock."""
    try:
        posix.rename(path, path + ".alone")
    except FileNotFoundError:
        _note(trace, "committed by a leader")
        return ev   # a leader committed it (it removes files only after COMMIT)
    try:
        stored = _open(spool).append_batch([ev])
    finally:
        _remove(path + ".alone")
    _note(trace, "committed")
    return stored.get(ev["event_id"], ev)


def _remove(path):
    try:
        posix.unlink(path)
    except OSError:
        pass

"""Spool reset: a damaged spool file is kept aside and a fresh spool declares the loss.

When SQLite reports the spool damaged ("file is not a database", "database disk image is
malformed", or a write-ahead log it cannot use while the schema is missing) the spool

1. takes an exclusive ``flock`` on ``spool.db.lock`` (only resetters take it, never the hook's
   normal path): concurrent calls hitting the damage at once reset it once; the others find a
   different file at the path and simply reopen it;
2. reads the last chain head it can from the damaged file, read-only and bounded in time:
   the ``chain`` row, else the newest event, else the highest ``"seq":N`` carved from the raw
   bytes of the file and its WAL (a seq only: a carved hash cannot be trusted);
3. builds a fresh spool beside it whose chain continues from that head, with the reset
   *pending*: the first event appended to it (by the hook or the forwarder) is preceded, in
   the same transaction, by a ``kind: "spool_reset"`` event (``reset_event``);
4. keeps the damaged files as ``spool.db.corrupt-<UTC time>`` (a hard link, so the path never
   goes missing; ``-wal``/``-shm`` moved along), then renames the fresh spool over the path.

Seq continuity (what the server sees): the reset event has seq head+1 and prev_hash the head's
hash, so it links to the old chain when the head is known. With the hash unknown, prev_hash
is GENESIS_HASH and ``reset.head_hash`` says "unknown": the server skips that one link check
(declared, not tampering). With no seq readable at all the chain jumps to a clock-derived seq
(unix milliseconds), beyond any seq the old file can have used. Events between what the
server received and the reset's seq never arrive: the server closes that gap as *declared by
the reset* (app/services/ingest.py), so it is neither silent nor a chain problem.
"""

import time

from hookshim import event as _event
from hookshim.spool_schema import identity

KIND = "spool_reset"
LOCK_SUFFIX = ".lock"
CORRUPT_INFIX = ".corrupt-"
UNKNOWN = "unknown"
LOCK_WAIT_S = 30.0
READ_BUDGET_S = 2.0
CARVE_MAX_BYTES = 64 * 1024 * 1024


def wal_is_unreadable(path):
    """The WAL next to ``path`` holds bytes but not SQLite's WAL magic (SQLite then ignores
    it silently and the spool would restart at seq 1)."""
    import posix

    try:
        fd = posix.open(path + "-wal", posix.O_RDONLY)
    except OSError:
        return False
    try:
        head = posix.read(fd, 4)
    finally:
        posix.close(fd)
    return len(head) > 0 and head not in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def reset(path, damaged_identity, error, make_spool):
    """Reset the spool at ``path`` if it is still the damaged file; returns the reset info,
    or None when another process already did it. ``make_spool(path)`` opens a Spool."""
    lock = _lock(path + LOCK_SUFFIX)
    try:
        if identity(path) != damaged_identity:
            return None
        head_seq, head_hash = read_head(path)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        kept = path + CORRUPT_INFIX + stamp
        info = {"at": _event.utc_timestamp(), "error": str(error)[:2000],
                "kept_as": kept.rsplit("/", 1)[-1], "head_seq": head_seq,
                "head_hash": head_hash or UNKNOWN}
        fresh = path + ".reset-%d" % _pid()
        _build(fresh, info, make_spool)
        _keep_aside(path, kept)
        import posix

        # Atomic: the path always names a spool file. A caller opening it meanwhile gets
        # the damaged one, fails, waits for this lock and then finds the fresh one.
        posix.rename(fresh, path)
        return info
    finally:
        _unlock(lock)


def _pid():
    import posix

    return posix.getpid()


def _build(fresh, info, make_spool):
    """The fresh spool: empty, its chain at the declared head, the reset pending."""
    seq = info["head_seq"] if info["head_seq"] is not None else int(time.time() * 1000)
    known = info["head_hash"] if info["head_hash"] != UNKNOWN else _event.GENESIS_HASH
    spool = make_spool(fresh)
    try:
        spool.start_after(seq, known, info)
    finally:
        spool.close()   # the last connection: checkpoints, so no -wal travels with it


def _keep_aside(path, kept):
    """The damaged file gets its second name (a hard link: the path itself never goes
    missing, or a concurrent caller would create an empty spool there); its WAL and
    shared-memory files are moved along."""
    import posix

    try:
        posix.link(path, kept)
    except OSError:   # no hard links on this filesystem: the tiny window is accepted
        posix.rename(path, kept)
    for suffix in ("-wal", "-shm"):
        try:
            posix.rename(path + suffix, kept + suffix)
        except FileNotFoundError:
            pass


def _lock(lock_path):
    import fcntl
    import posix

    fd = posix.open(lock_path, posix.O_RDWR | posix.O_CREAT, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                posix.close(fd)
                raise OSError("spool reset lock %s held for %ds" % (lock_path, LOCK_WAIT_S))
            time.sleep(0.02)


def _unlock(fd):
    import posix

    posix.close(fd)   # closing the descriptor releases the flock


# -- reading what can be read of the damaged file -------------------------------------------

def read_head(path, budget_s=READ_BUDGET_S):
    """(seq, hash) of the damaged spool's chain head as far as it can be read; hash None
    when only a seq could be found, (None, None) when nothing."""
    seq, digest = _structured_head(path, budget_s)
    carved = carve_seq([path, path + "-wal"])
    if carved is not None and (seq is None or carved > seq):
        return carved, None
    return seq, digest


_QUERIES = (
    "SELECT last_seq, last_hash FROM chain WHERE id = 1",
    "SELECT seq, json_extract(body, '$.hash') FROM events ORDER BY seq DESC LIMIT 1",
    "SELECT max(seq), NULL FROM events",
)


def _structured_head(path, budget_s):
    """Ask SQLite, read-only (no checkpoint, no recovery written), each query cut off after
    ``budget_s`` by a progress handler."""
    from hookshim.spool_schema import sqlite3

    try:
        db = sqlite3.connect("file:%s?mode=ro" % _uri_path(path), uri=True, timeout=0.5)
    except sqlite3.Error:
        return None, None
    try:
        for query in _QUERIES:
            deadline = time.monotonic() + budget_s
            db.set_progress_handler(lambda: time.monotonic() > deadline, 10000)
            try:
                row = db.execute(query).fetchone()
            except sqlite3.Error:
                continue
            if row and isinstance(row[0], int):
                digest = row[1] if _is_hash(row[1]) else None
                return row[0], digest
        return None, None
    finally:
        db.close()


def _uri_path(path):
    return "".join(c if c.isalnum() or c in "/._-" else "%%%02X" % ord(c) for c in path)


def _is_hash(value):
    return isinstance(value, str) and len(value) == 64 and all(
        c in "0123456789abcdef" for c in value)


def carve_seq(paths, max_bytes=CARVE_MAX_BYTES):
    """The highest ``"seq":N`` of an event body found in the raw bytes of ``paths`` (the
    body's keys are sorted, so "seq" is followed by "shim"); None when there is none."""
    import re

    pattern = re.compile(rb'"seq":(\d{1,19}),"shim"')
    best = None
    for path in paths:
        for chunk in _chunks(path, max_bytes):
            for match in pattern.finditer(chunk):
                value = int(match.group(1))
                best = value if best is None or value > best else best
    return best


def _chunks(path, max_bytes, size=4 * 1024 * 1024, overlap=64):
    """The file's last ``max_bytes`` in overlapping chunks (a match may straddle two)."""
    try:
        f = open(path, "rb")
    except OSError:
        return
    with f:
        f.seek(0, 2)
        f.seek(max(0, f.tell() - max_bytes))
        tail = b""
        while True:
            data = f.read(size)
            if not data:
                return
            yield tail + data
            tail = data[-overlap:]


# -- the event that declares it ---------------------------------------------------------------

def reset_event(info, template):
    """The ``spool_reset`` event (without seq/hash) for ``info``, on behalf of the host and
    shim of ``template`` (the event or heartbeat that found the reset pending)."""
    head = "seq %s, hash %s" % (info["head_seq"] if info["head_seq"] is not None else UNKNOWN,
                                info["head_hash"])
    return {
        "v": _event.ENVELOPE_VERSION, "kind": KIND, "event_id": _event.new_event_id(),
        "host": template.get("host"), "driver": "hookshim", "object": "-", "op": KIND,
        "subop": "-", "extra": "-", "domain_uuid": None, "started_at": info["at"],
        "duration_ms": None, "exit_code": None, "outcome": "ok",
        "reason": "spool damaged (%s); kept as %s; last readable chain head: %s"
                  % (info["error"], info["kept_as"], head),
        "stderr": None, "xml": None, "xml_sha256": None, "xml_truncated": False,
        "output_xml": None, "output_xml_sha256": None, "redactions": 0, "policy": None,
        "scripts": [], "warnings": [], "dropped": None, "shim": template.get("shim"),
        "reset": {"head_seq": info["head_seq"], "head_hash": info["head_hash"],
                  "kept_as": info["kept_as"], "error": info["error"]},
    }

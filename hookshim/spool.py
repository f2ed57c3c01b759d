r"""The spool: a durable local queue of events in SQLite (contract section 2).

One row per event, in one of the states

    ready --claim--> locked --mark_sent--> sent --prune--> (deleted)
                       |  \--release / lease expiry--> ready
                       \--park--> parked --unpark--> ready

The hook appends; the forwarder claims, marks sent, releases, parks and prunes. ``seq``,
``prev_hash`` and ``hash`` are assigned here, inside the same ``BEGIN IMMEDIATE``
transaction that inserts the row: SQLite's write lock serialises concurrent hook
processes, so ``seq`` is gapless and every event chains to the one committed before it.
The chain tail (last seq, last hash) lives in the one-row ``chain`` table, not in the
events table, so pruning sent rows never breaks the chain.

The size bound (``max_bytes``) counts the stored JSON of every row. When an event would
exceed it the spool first deletes sent rows; if that is not enough, the call's details are
dropped and counted in an explicit ``kind: "overflow"`` marker event (one marker absorbs
consecutive dropped calls while the forwarder has not claimed it; ``hookshim/spool_bound.py``).
Nothing is lost silently.

Every event is fitted to the limits the server accepts (``hookshim/limits.py``) before it is
hashed. A damaged spool file is kept aside and replaced by a fresh spool whose first event
declares the reset (``hookshim/spool_reset.py``).
"""

import time

from hookshim.limits import fit_event
from hookshim.spool_schema import (  # noqa: F401 (SCHEMA_VERSION, STATES: the spool's API)
    _SCHEMA, META_LAST_RESET, META_PENDING, SCHEMA_VERSION, STATES, Transaction, _json,
    chain_tail, identity, insert, is_corrupt, seal, sqlite3)

SPOOL_NAME = "spool.db"  # the spool's file name in the state directory


class SpoolError(Exception):
    """The spool cannot be opened or written (wraps sqlite3 and OS errors)."""


class SpoolDamaged(SpoolError):
    """The spool file is damaged (and was not, or could not be, reset)."""


def _wrap(path, what, exc):
    kind = SpoolDamaged if is_corrupt(exc) else SpoolError
    return kind("spool %s: %s%s" % (path, what, exc))


class Spool:
    """A spool file. Cheap to construct: one connection, a few PRAGMAs, no schema work
    unless the file is new."""

    def __init__(self, path, max_bytes=256 * 1024 * 1024, busy_timeout_s=60.0, recover=True,
                 write_lock=None):
        """``recover``: reset a damaged file (see spool_reset); False raises SpoolDamaged
        instead (``hookshim status`` only reports). ``write_lock``: a threading.Lock that
        the spool objects of one process share (the forwarder's sender and its hand-over
        listener): their write transactions then queue on it, woken at once, instead of
        meeting in SQLite's sleep-and-poll busy handler."""
        self.path = str(path)
        self.write_lock = write_lock
        self.max_bytes = max_bytes
        self.busy_timeout_s = busy_timeout_s
        self.reset_info = None  # set when this object reset the spool
        try:
            self._open()
        except SpoolDamaged as exc:
            if not recover:
                raise
            self._recover(exc)

    def _open(self):
        self._db = self.identity = None
        try:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the write lock is
            # taken before the chain tail is read (no read-then-upgrade deadlocks).
            # timeout: SQLite's busy handler waits this long for a concurrent writer
            # (another hook call, the forwarder) instead of failing with "database is locked".
            self._db, self.identity = self._connect()
            self._configure()
        except (sqlite3.Error, OSError) as exc:
            raise _wrap(self.path, "", exc) from None

    def _connect(self):
        """A connection and the (device, inode) of the file it holds: a reset compares that
        with the path's file. Stat before and after: a reset renaming a fresh spool over the
        path in between would otherwise pair a connection to the damaged file with the
        fresh file's identity (and the fresh spool would be reset in turn)."""
        while True:
            before = identity(self.path)
            db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            after = identity(self.path)
            if before == after:
                return db, after
            db.close()

    def _recover(self, exc):
        """Reset the damaged file (or find another process did), then open the new one."""
        from hookshim import spool_reset

        try:
            if self._db is not None:
                self._db.close()
        except sqlite3.Error:
            pass
        try:
            self.reset_info = spool_reset.reset(
                self.path, self.identity, exc,
                lambda p: Spool(p, self.max_bytes, self.busy_timeout_s, recover=False))
        except (sqlite3.Error, OSError) as err:
            raise SpoolError("spool %s is damaged (%s) and could not be reset: %s"
                             % (self.path, exc, err)) from None
        self._open()

    def reopen_if_replaced(self):
        """Reopen when the file at the path is no longer the one this connection holds (a
        hook call reset the spool); True when it did. For the long-lived forwarder."""
        if identity(self.path) in (self.identity, None):
            return False
        self.close()
        self._open()
        return True

    def _configure(self):
        db = self._db
        # FULL: in WAL mode NORMAL may lose the last commits on power loss; a hook call that
        # libvirt has been answered for must survive, so every commit fsyncs the WAL.
        db.execute("PRAGMA synchronous=FULL")
        # Cap the WAL file left behind after checkpoints, so the on-disk size stays near the
        # max_bytes bound even after a burst.
        db.execute("PRAGMA journal_size_limit=%d" % (4 * 1024 * 1024))
        # Checkpoint every 128 WAL pages (~512 KiB) instead of 1000: while the forwarder
        # holds a connection, hook processes never checkpoint on close, and a short WAL
        # keeps both the checkpoint and any WAL-index rebuild (after a crash) cheap.
        db.execute("PRAGMA wal_autocheckpoint=128")
        if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self._create()

    def _create(self):
        from hookshim.spool_reset import wal_is_unreadable

        if wal_is_unreadable(self.path):  # SQLite would ignore it and restart at seq 1
            raise sqlite3.DatabaseError("write-ahead log is unreadable")
        # WAL: the forwarder reads/claims while hooks append, without blocking each other,
        # and a commit is one sequential WAL write. It is persistent in the file, so only
        # set here, on creation. Retried: switching needs a moment of exclusive access and
        # concurrent first-time callers may collide.
        self._retry(lambda: self._db.execute("PRAGMA journal_mode=WAL").fetchone())
        with self._write():
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    self._db.execute(statement)
            # user_version marks a complete schema: a cheap one-read check on every open
            # tells the hook path whether any schema work is needed at all.
            self._db.execute("PRAGMA user_version=%d" % SCHEMA_VERSION)

    def _retry(self, fn, attempts=50):
        for attempt in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.02)

    def _write(self):
        return Transaction(self._db, self.write_lock)

    # -- the hook path -------------------------------------------------------------------

    def append(self, ev):
        """Assign seq/prev_hash/hash and commit ``ev`` (a dict); returns the stored event.

        When the size bound is hit the returned event is the overflow marker that absorbed
        this call (``kind == "overflow"``).
        """
        ev = fit_event(dict(ev))
        try:
            return self._append_once(ev)
        except SpoolDamaged as exc:
            self._recover(exc)
            return self._append_once(ev)

    def _append_once(self, ev):
        try:
            with self._write():
                self._declare_pending_reset(ev)
                return self._append_locked(dict(ev))
        except sqlite3.Error as exc:
            raise _wrap(self.path, "append failed: ", exc) from None

    def append_batch(self, events):
        """Commit already-fitted ``events`` in ONE transaction (one fsync), in list order,
        skipping any event_id the spool already holds (checked inside the transaction, so
        a concurrent writer of the same event is seen). Returns {event_id: stored event}
        for the events written now. The group commit of hookshim/spool_group.py."""
        try:
            return self._append_batch_once(events)
        except SpoolDamaged as exc:
            self._recover(exc)
            return self._append_batch_once(events)

    def _append_batch_once(self, events):
        stored = {}
        try:
            with self._write():
                ids = [ev["event_id"] for ev in events]
                present = set()
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    present.update(r[0] for r in self._db.execute(
                        "SELECT event_id FROM events WHERE event_id IN (%s)"
                        % ",".join("?" * len(chunk)), chunk))
                for ev in events:
                    if ev["event_id"] in present:
                        continue
                    present.add(ev["event_id"])
                    self._declare_pending_reset(ev)
                    stored[ev["event_id"]] = self._append_locked(dict(ev))
        except sqlite3.Error as exc:
            raise _wrap(self.path, "append failed: ", exc) from None
        return stored

    def _declare_pending_reset(self, template):
        """A fresh spool after a reset: its first event is the reset (spool_reset.py)."""
        pending = self.get_meta(META_PENDING)
        if pending is None:
            return
        from hookshim.spool_reset import reset_event

        marker = reset_event(_json().loads(pending), template)
        last_seq, last_hash, _, _ = chain_tail(self._db)
        body, size = seal(marker, last_seq + 1, last_hash)
        insert(self._db, marker, body, size)
        self._db.execute("DELETE FROM meta WHERE key = ?", (META_PENDING,))

    def declare_reset(self, host, shim=None):
        """Write a pending reset event now (the forwarder, before it claims)."""
        with self._write():
            self._declare_pending_reset({"host": host, "shim": shim})

    def start_after(self, seq, last_hash, info):
        """A fresh spool whose chain continues after (seq, last_hash), the reset pending."""
        text = _json().dumps(info, sort_keys=True)
        with self._write():
            self._db.execute("UPDATE chain SET last_seq = ?, last_hash = ? WHERE id = 1",
                             (seq, last_hash))
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                 [(META_PENDING, text), (META_LAST_RESET, text)])

    def _append_locked(self, ev):
        last_seq, last_hash, total, _ = chain_tail(self._db)
        body, size = seal(ev, last_seq + 1, last_hash)
        if total + size > self.max_bytes:
            from hookshim.spool_bound import append_over_bound

            return append_over_bound(self._db, ev, body, size, total, self.max_bytes)
        insert(self._db, ev, body, size)
        return ev

    # -- the forwarder -------------------------------------------------------------------

    def claim(self, limit=500, lease_s=60):
        """Lock up to ``limit`` ready (or lease-expired) events, oldest seq first."""
        now = time.time()
        with self._write():
            # Two index range scans on (state, seq) instead of one OR over the table: a
            # spool holding 100k sent rows must not be scanned on every claim.
            rows = self._db.execute(
                "SELECT seq, body FROM events WHERE seq IN ("
                " SELECT seq FROM (SELECT seq FROM events WHERE state = 'ready'"
                "  ORDER BY seq LIMIT ?)"
                " UNION ALL SELECT seq FROM (SELECT seq FROM events WHERE state = 'locked'"
                "  AND lease_until < ? ORDER BY seq LIMIT ?)) ORDER BY seq LIMIT ?",
                (limit, now, limit, limit)).fetchall()
            self._db.executemany("UPDATE events SET state = 'locked', lease_until = ?"
                                 " WHERE seq = ?", [(now + lease_s, r[0]) for r in rows])
        return [_json().loads(r[1]) for r in rows]

    def _set_state(self, event_ids, sql, extra=()):
        with self._write():
            cur = self._db.executemany(sql, [tuple(extra) + (i,) for i in event_ids])
            return cur.rowcount

    def mark_sent(self, event_ids):
        """The server acknowledged these events (stored or duplicate)."""
        return self._set_state(event_ids, "UPDATE events SET state = 'sent', sent_at = ?,"
                               " lease_until = NULL WHERE event_id = ? AND state != 'sent'",
                               (time.time(),))

    def release(self, event_ids):
        """Back to ready after a transient failure."""
        return self._set_state(event_ids, "UPDATE events SET state = 'ready', lease_until = NULL"
                               " WHERE event_id = ? AND state = 'locked'")

    def park(self, event_id, error):
        """The server permanently rejected this event: keep it aside, forever."""
        self._set_state([event_id], "UPDATE events SET state = 'parked', lease_until = NULL,"
                        " error = ? WHERE event_id = ?", (str(error),))
        self.set_meta("last_error", "parked %s: %s" % (event_id, error))

    def unpark(self):
        """All parked events back to ready (the operator fixed the cause); returns the count."""
        with self._write():
            return self._db.execute("UPDATE events SET state = 'ready', error = NULL"
                                    " WHERE state = 'parked'").rowcount

    def prune(self, sent_older_than_s, max_sent_rows):
        """Delete sent rows older than the age, then the oldest beyond ``max_sent_rows``."""
        cutoff = time.time() - sent_older_than_s
        with self._write():
            doomed = self._db.execute(
                "SELECT seq, bytes FROM events WHERE state = 'sent' AND sent_at < ?",
                (cutoff,)).fetchall()
            keep = self._db.execute("SELECT seq, bytes FROM events WHERE state = 'sent'"
                                    " AND sent_at >= ? ORDER BY seq", (cutoff,)).fetchall()
            doomed += keep[:max(0, len(keep) - max_sent_rows)]
            self._db.executemany("DELETE FROM events WHERE seq = ?", [(s,) for s, _ in doomed])
            self._db.execute("UPDATE chain SET total_bytes = total_bytes - ? WHERE id = 1",
                             (sum(b for _, b in doomed),))
        return len(doomed)

    # -- operators -----------------------------------------------------------------------

    def stats(self):
        """Spool health for ``hookshim status``, heartbeats and metrics."""
        counts = dict.fromkeys(STATES, 0)
        counts.update(self._db.execute("SELECT state, count(*) FROM events GROUP BY state"))
        oldest = self._oldest("state IN ('ready', 'locked')")
        parked = self._oldest("state = 'parked'")
        last_seq, _, total, dropped = chain_tail(self._db)
        return {
            "depth": counts["ready"] + counts["locked"], "oldest_unsent_age_s": oldest,
            "parked": counts["parked"], "oldest_parked_age_s": parked, "sent": counts["sent"],
            "last_seq": last_seq, "bytes": total, "dropped": dropped,
            "last_error": self.get_meta("last_error"), "last_reset": self.last_reset(),
        }

    def _oldest(self, where):
        """Age in seconds of the oldest row matching ``where`` (index on state), or None."""
        first = self._db.execute("SELECT min(created) FROM events WHERE %s" % where).fetchone()[0]
        return None if first is None else round(time.time() - first, 3)

    def last_reset(self):
        """What the last spool reset declared (spool_reset.reset's info), None if none."""
        text = self.get_meta(META_LAST_RESET)
        return None if text is None else _json().loads(text)

    def acked_head(self):
        """{"seq", "hash"} of the newest event the server acknowledged (None when no sent row
        is kept): heartbeats report it, so the server can tell when its store lost events."""
        row = self._db.execute("SELECT body FROM events WHERE state = 'sent'"
                               " ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return None
        ev = _json().loads(row[0])
        return {"seq": ev["seq"], "hash": ev["hash"]}

    def latest(self, limit=100, state=None):
        """The newest ``limit`` events (optionally of one state), in seq order."""
        return [ev for _, ev in self.rows(limit, state)]

    def rows(self, limit=100, state=None, event_id=None):
        """Like ``latest`` but as ``({state, error, created}, event)`` pairs; parked events
        carry the server's reason. ``event_id``: only that event (any state)."""
        where, args = ("WHERE state = ?", (state,)) if state else ("", ())
        if event_id is not None:
            where, args = "WHERE event_id = ?", (event_id,)
        rows = self._db.execute("SELECT state, error, created, body FROM events %s"
                                " ORDER BY seq DESC LIMIT ?" % where, args + (limit,)).fetchall()
        return [({"state": row_state, "error": error, "created": created}, _json().loads(body))
                for row_state, error, created, body in reversed(rows)]

    def set_meta(self, key, value):
        with self._write():
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key):
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def wal_bytes(self):
        """Size of the write-ahead log file (0 when there is none)."""
        import posix  # not os: the hook calls this (hookshim/fs.py)

        try:
            return posix.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

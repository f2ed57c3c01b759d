"""The spool's SQLite plumbing: the C module, the schema, the write transaction, JSON helpers,
and how one event becomes a row of the chain (hookshim/spool.py holds the queue itself)."""

import time

from hookshim import event as _event


def _import_sqlite():
    """The sqlite C module, as cheaply as the hook path allows.

    - ``_sqlite3`` directly: the ``sqlite3`` package adds datetime adapters the spool never
      uses (~1 ms of imports). Same classes, same ``connect()``.
    - CPython >= 3.11's ``_sqlite3`` fetches ``functools.lru_cache`` at import for its
      statement cache, and ``functools`` drags in ``collections`` & co: ~2 ms of CPU on a
      call that is ~14 ms in all. When nothing has imported functools yet, a stand-in
      offering just ``lru_cache`` (built on the same C ``_lru_cache_wrapper``) is visible
      for the duration of that one import, then removed, so any later ``import functools``
      gets the real module. Any surprise falls back to the plain import.
    """
    import sys

    if "functools" in sys.modules or "_sqlite3" in sys.modules:
        return _plain_import()
    try:
        import _functools

        stand_in = type(sys)("functools")  # a module object, without importing types
        stand_in.lru_cache = lambda maxsize=128, typed=False: (
            lambda f: _functools._lru_cache_wrapper(f, maxsize, typed, tuple))
        sys.modules["functools"] = stand_in
        try:
            import _sqlite3
        finally:
            del sys.modules["functools"]
        return _sqlite3
    except Exception:  # noqa: BLE001 - a Python whose _sqlite3 wants more: do it normally
        return _plain_import()


def _plain_import():
    try:
        import _sqlite3
        return _sqlite3
    except ImportError:  # pragma: no cover - a Python without the split module
        import sqlite3
        return sqlite3


class _Lazy:
    """``sqlite3``, loaded on first use: a hook call whose event a group-commit leader
    wrote (hookshim/spool_group.py) never touches SQLite, and loading _sqlite3 and
    libsqlite3 is ~3.7 M instructions of such a call (docs/hookshim.md "Hook storms")."""

    module = None

    def __getattr__(self, name):
        if _Lazy.module is None:
            _Lazy.module = _import_sqlite()
        return getattr(_Lazy.module, name)


sqlite3 = _Lazy()

SCHEMA_VERSION = 1
STATES = ("ready", "locked", "sent", "parked")
META_PENDING = "reset_pending"   # a reset event still to be written (hookshim/spool_reset.py)
META_LAST_RESET = "last_reset"   # the last reset, for ``hookshim status`` (JSON)
# SQLite's words for a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB), and ours for a WAL it
# would silently ignore; never "locked" or an I/O error, which a retry or an operator fixes.
_CORRUPT_WORDS = ("file is not a database", "malformed", "file is encrypted",
                  "write-ahead log is unreadable")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,          -- the event's seq: rowid order is chain order
    event_id TEXT NOT NULL UNIQUE,    -- mark_sent/release/park look rows up by it
    state TEXT NOT NULL DEFAULT 'ready',
    lease_until REAL,                 -- locked rows: when the forwarder's claim expires
    created REAL NOT NULL,            -- unix time of append: oldest_unsent_age_s
    sent_at REAL,                     -- unix time of mark_sent: prune by age
    bytes INTEGER NOT NULL,           -- len(body): the size bound without re-reading bodies
    error TEXT,                       -- parked rows: why the server rejected it
    body TEXT NOT NULL                -- the wire event as JSON
);
-- claim() (ready/locked in seq order), stats() counts per state, list(state=...).
CREATE INDEX IF NOT EXISTS events_state_seq ON events(state, seq);
CREATE TABLE IF NOT EXISTS chain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq INTEGER NOT NULL,
    last_hash TEXT NOT NULL,
    total_bytes INTEGER NOT NULL,     -- sum(events.bytes), kept in step on insert/delete
    dropped INTEGER NOT NULL          -- calls whose details went into overflow markers
);
INSERT OR IGNORE INTO chain VALUES (1, 0, '%s', 0, 0);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
""" % _event.GENESIS_HASH


def is_corrupt(exc):
    """True for SQLite's damage errors, not for locks, a full disk or I/O errors."""
    text = str(exc)
    return any(word in text for word in _CORRUPT_WORDS)


def identity(path):
    """(device, inode) of ``path``, None when it does not exist."""
    import posix

    try:
        st = posix.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _json():
    import json  # lazy: only paid when something is serialised

    return json


def _dumps(ev):
    from hookshim.wire import dumps  # json-compatible without importing json (hook path)

    return dumps(ev)


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, ROLLBACK on error. IMMEDIATE takes the write lock up
    front, so two writers never both read the chain tail and then race to extend it."""

    def __init__(self, db, lock=None):
        self.db = db
        self.lock = lock   # a threading.Lock shared by the writers of one process, or None

    def __enter__(self):
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.db.execute("COMMIT")
            else:
                self.db.execute("ROLLBACK")
        finally:
            if self.lock is not None:
                self.lock.release()
        return False


# -- one event, one row of the chain (the caller holds the write transaction) ---------------

def chain_tail(db):
    """(last_seq, last_hash, total_bytes, dropped) of the one-row chain table."""
    return db.execute(
        "SELECT last_seq, last_hash, total_bytes, dropped FROM chain WHERE id = 1").fetchone()


def seal(ev, seq, prev_hash):
    """Give ``ev`` its place in the chain (seq, prev_hash, hash); returns (body, bytes)."""
    ev["seq"], ev["prev_hash"] = seq, prev_hash
    ev.pop("hash", None)
    ev["hash"] = _event.chain_hash(ev)
    body = _dumps(ev)
    return body, len(body.encode("utf-8", "surrogatepass"))


def insert(db, ev, body, size):
    """Store a sealed event as a ready row and make it the chain tail."""
    db.execute(
        "INSERT INTO events (seq, event_id, state, created, bytes, body)"
        " VALUES (?, ?, 'ready', ?, ?, ?)",
        (ev["seq"], ev["event_id"], time.time(), size, body))
    db.execute(
        "UPDATE chain SET last_seq = ?, last_hash = ?, total_bytes = total_bytes + ?"
        " WHERE id = 1", (ev["seq"], ev["hash"], size))

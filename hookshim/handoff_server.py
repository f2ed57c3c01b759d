"""The forwarder's side of the hand-over (hookshim/handoff.py): listen on
``<state_dir>/spool.sock``, group-commit what calls send, answer each once committed.

One thread, one ``selectors`` loop: it accepts and reads every connection without blocking,
and whenever complete events are in hand it commits them all in one transaction
(``spool_group.commit_handed``: the same flock and queue as the direct write, so calls that
fell back are committed in the same batch), then answers ``OK <kind> <dropped>`` to each and
closes. While a commit (its fsync) runs, new calls wait in the socket's backlog; the next
round takes all of them: group commit without a timer.

What this thread never does: answer before COMMIT returned (the acknowledgement is the
durability promise); block on one slow client (reads are non-blocking, a connection that has
not sent a whole event within ``read_deadline_s`` is closed, its call falls back); take
events from another user (``SO_PEERCRED``: root or the forwarder's own uid; the state dir is
0700 too). A commit that fails is answered ``NO <reason>`` and every call writes itself.

If this thread dies, it closes and unlinks the socket first, so calls fall back at once
(ECONNREFUSED/ENOENT) instead of waiting for their deadline.
"""
import logging
import marshal
import os
import selectors
import socket
import struct
import threading
import time

from hookshim import spool_group
from hookshim.handoff import HEADER_BYTES, MAGIC, MAX_EVENT_BYTES, MAX_PATH_BYTES, SOCKET

log = logging.getLogger("hookshim.forward")

READ_DEADLINE_S = 5.0
NICE = -5                 # the hand-over thread's nice value (None: leave it)
BACKLOG = 1024


class _Conn:
    __slots__ = ("sock", "buf", "need", "deadline", "event")

    def __init__(self, sock, deadline):
        self.sock, self.buf, self.need, self.deadline, self.event = sock, bytearray(), None, \
            deadline, None


class HandoffServer(threading.Thread):
    """``HandoffServer(state_dir, open_spool).start()`` ... ``stop()``.

    ``open_spool``: makes this thread's Spool (a sqlite connection belongs to its thread).
    ``on_commit``: called after each committed batch (the forwarder wakes up to send it).
    """

    def __init__(self, state_dir, open_spool, on_commit=None, read_deadline_s=READ_DEADLINE_S,
                 lock_wait_s=spool_group.LOCK_WAIT_S, trace=None, nice=NICE):
        super().__init__(name="hookshim-handoff", daemon=True)
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, SOCKET)
        self.open_spool = open_spool
        self.on_commit = on_commit
        self.read_deadline_s = read_deadline_s
        self.lock_wait_s = lock_wait_s
        self.trace = trace
        self.nice = nice
        self.committed = 0
        self._spool = None
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._listener = self._bind()
        self._ino = os.stat(self.path).st_ino
        self._uids = {0, os.geteuid()}

    def _bind(self):
        """Listen at ``path``, replacing a stale socket file; bound under a temporary name
        and renamed, so a call never connects to a half-made socket."""
        if len(os.fsencode(self.path)) > MAX_PATH_BYTES:
            raise OSError("socket path %s is longer than %d bytes" % (self.path, MAX_PATH_BYTES))
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        tmp = os.path.join(self.state_dir, ".h%x" % (os.getpid() & 0xffffff))   # <= path
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            old = os.umask(0o077)
            try:
                sock.bind(tmp)
            finally:
                os.umask(old)
            sock.listen(BACKLOG)
            os.rename(tmp, self.path)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def stop(self, timeout=10.0):
        self._stopping.set()
        os.write(self._wake_w, b"x")
        if self.is_alive():
            self.join(timeout)

    # -- the loop -------------------------------------------------------------------------

    def run(self):
        self._raise_priority()
        sel = selectors.DefaultSelector()
        sel.register(self._listener, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        conns = {}
        try:
            while not self._stopping.is_set():
                timeout = None
                if conns:
                    timeout = max(0.0, min(c.deadline for c in conns.values()) - time.monotonic())
                for key, _ in sel.select(timeout):
                    if key.data == "listen":
                        self._accept(sel, conns)
                    elif key.data == "wake":
                        os.read(self._wake_r, 512)
                    else:
                        self._read(sel, conns, key.data)
                self._expire(sel, conns)
                ready = [c for c in conns.values() if c.event is not None]
                if ready:
                    for c in ready:
                        sel.unregister(c.sock)
                        del conns[c.sock.fileno()]
                    self._commit(ready)
        except Exception:  # noqa: BLE001 - never leave calls waiting on a dead listener
            log.exception("hand-over listener failed; hook calls write the spool themselves")
        finally:
            self._unlisten()
            for c in conns.values():
                c.sock.close()
            sel.close()
            if self._spool is not None:
                self._spool.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _raise_priority(self):
        """This thread is on libvirtd's critical path (a call waits for its answer) and
        works in bursts of a few hundred microseconds: on a busy host it should not queue
        behind guests' CPU hogs. Linux nice applies per thread (its tid); raising it needs
        root (CAP_SYS_NICE), else the thread keeps the process's."""
        if self.nice is None:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)
        except (OSError, AttributeError) as exc:
            log.info("hand-over thread keeps its priority (%s)", exc)

    def _unlisten(self):
        self._listener.close()
        try:   # only our own socket file: a newer forwarder may have replaced it
            if os.stat(self.path).st_ino == self._ino:
                os.unlink(self.path)
        except OSError:
            pass

    def _accept(self, sel, conns):
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:   # EMFILE...: leave the rest in the backlog for a moment
                log.warning("hand-over accept failed: %s", exc)
                return
            if not self._trusted(sock):
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Conn(sock, time.monotonic() + self.read_deadline_s)
            conns[sock.fileno()] = conn
            sel.register(sock, selectors.EVENT_READ, conn)

    def _trusted(self, sock):
        try:
            _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        except OSError:
            return False
        if uid not in self._uids:
            log.warning("hand-over refused a connection from uid %d", uid)
            return False
        return True

    def _read(self, sel, conns, conn):
        try:
            chunk = conn.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:   # the call gave up (deadline) or died: it writes itself, or is gone
            self._drop(sel, conns, conn)
            return
        conn.buf += chunk
        if len(conn.buf) >= len(MAGIC) and bytes(conn.buf[:len(MAGIC)]) != MAGIC:
            self._refuse(sel, conns, conn, "not a hand-over")
            return
        if conn.need is None and len(conn.buf) >= HEADER_BYTES:
            try:
                conn.need = self._header(conn.buf)
            except ValueError as exc:
                self._refuse(sel, conns, conn, str(exc))
                return
        if conn.need is not None and len(conn.buf) >= HEADER_BYTES + conn.need:
            try:
                conn.event = self._event(bytes(conn.buf[HEADER_BYTES:HEADER_BYTES + conn.need]))
            except ValueError as exc:
                self._refuse(sel, conns, conn, str(exc))

    @staticmethod
    def _header(buf):
        if bytes(buf[:len(MAGIC)]) != MAGIC:
            raise ValueError("not a hand-over")
        try:
            need = int(bytes(buf[len(MAGIC):HEADER_BYTES]), 16)
        except ValueError:
            raise ValueError("bad length") from None
        if need > MAX_EVENT_BYTES:
            raise ValueError("event of %d bytes is too large" % need)
        return need

    @staticmethod
    def _event(body):
        try:
            ev = marshal.loads(body)
        except (EOFError, ValueError, TypeError) as exc:
            raise ValueError("unreadable event: %s" % exc) from None
        if not isinstance(ev, dict) or not isinstance(ev.get("event_id"), str):
            raise ValueError("not an event")
        return ev

    def _refuse(self, sel, conns, conn, why):
        log.warning("hand-over refused: %s", why)
        _answer(conn.sock, b"NO %s\n" % why.encode("utf-8", "replace"))
        self._drop(sel, conns, conn)

    @staticmethod
    def _drop(sel, conns, conn):
        sel.unregister(conn.sock)
        conns.pop(conn.sock.fileno(), None)
        conn.sock.close()

    def _expire(self, sel, conns):
        now = time.monotonic()
        for conn in [c for c in conns.values() if c.event is None and c.deadline <= now]:
            self._drop(sel, conns, conn)

    # -- the commit -----------------------------------------------------------------------

    def _commit(self, ready):
        try:
            stored, fitted = spool_group.commit_handed(self._open(), [c.event for c in ready],
                                                       self.state_dir, self.lock_wait_s,
                                                       self.trace)
        except Exception as exc:  # noqa: BLE001 - every call falls back and writes itself
            if len(ready) > 1:   # one event the spool cannot take must not fail the others
                for c in ready:
                    self._commit([c])
                return
            log.error("hand-over commit failed (%s); the call writes the spool itself", exc)
            self._close_spool()
            _answer(ready[0].sock, b"NO commit failed: %s\n"
                    % type(exc).__name__.encode("ascii", "replace"))
            ready[0].sock.close()
            return
        self.committed += len(stored)
        for c, ev in zip(ready, fitted):
            got = stored.get(ev["event_id"], ev)   # absent: already in the spool
            _answer(c.sock, b"OK %s %d\n" % (_word(got.get("kind")),
                                             int(got.get("dropped") or 0)))
            c.sock.close()
        if self.on_commit is not None:
            self.on_commit()

    def _open(self):
        if self._spool is None:
            self._spool = self.open_spool()
        elif self._spool.reopen_if_replaced():
            log.info("hand-over follows the reset spool")
        return self._spool

    def _close_spool(self):
        if self._spool is not None:
            try:
                self._spool.close()
            finally:
                self._spool = None


def _word(kind):
    text = kind if isinstance(kind, str) and kind and kind.isprintable() else "hook"
    return text.replace(" ", "_").encode("utf-8", "replace")[:64]


def _answer(sock, line):
    """One short line; a call that went away meanwhile writes itself (dedupe by event_id)."""
    try:
        sock.setblocking(True)
        sock.settimeout(1.0)
        sock.sendall(line)
    except OSError:
        pass

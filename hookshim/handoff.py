r"""Handing a finished call's event to the running forwarder, which commits it (issue 14).

A lone hook call that writes the spool itself loads ``_sqlite3`` and libsqlite3, opens a
connection, sets its PRAGMAs and runs a transaction: about 7 M of the ~29 M instructions a
call costs (docs/hookshim.md "Hook storms"). The forwarder (``hookshim forward``, or the
server's ForwarderThread in single-host mode) already holds the spool open, so when it runs
it listens on ``<state_dir>/spool.sock`` and the call only sends its event there:

    call ── connect ── "HSH1" + 16 hex digits (length) + marshal(event) ──▶ forwarder
    forwarder: group commit (flock, BEGIN IMMEDIATE, every event received so far, COMMIT =
               one fsync, synchronous=FULL) ──▶ "OK <kind> <dropped>\n" ──▶ call answers

The forwarder answers only after its COMMIT returned, so an acknowledged call is as durable
as one that wrote the spool itself. Everything else falls back to the direct write
(``hookshim.spool_group.append``), at once or after ``handoff_timeout`` (2 s) at most:

- no forwarder (no socket file, or nobody listening: ECONNREFUSED; a full backlog: EAGAIN);
- a forwarder that does not answer in time (stopped, overloaded, killed mid-way);
- a forwarder that answers ``NO <reason>`` (its commit failed).

The fallback cannot write an event twice: the spool skips an event_id it already holds,
checked inside the write transaction (``Spool.append_batch``), whichever of the forwarder
and the call commits second. The hook never waits on the network: the forwarder's HTTP work
runs on other threads, and this module only talks to a local socket with a deadline.

``_socket`` is a builtin module of Debian's python3 (no dlopen); ``socket.py`` would import
``enum`` and ``selectors`` (milliseconds). Stdlib only, Python >= 3.9.
"""

import marshal
import time

SOCKET = "spool.sock"       # in the state dir (0700: only root reaches it)
MAGIC = b"HSH1"
HEADER_BYTES = len(MAGIC) + 16
MAX_EVENT_BYTES = 512 << 20  # marshal of the largest event limits.fit_event lets through
DEADLINE_S = 2.0
MAX_PATH_BYTES = 107         # sun_path: a longer state dir has no hand-over (docs/hookshim.md)


class HandoffFailed(Exception):
    """The forwarder did not take the event; the message says why (the call writes itself)."""


class NoForwarder(HandoffFailed):
    """Nobody listens (no socket, a stale one): the normal case without a forwarder."""


def frame(ev):
    body = marshal.dumps(ev)
    return MAGIC + (b"%016x" % len(body)) + body


def hand_over(state_dir, ev, deadline_s=DEADLINE_S):
    """Send ``ev`` to the forwarder; returns ``{"kind": ..., "dropped": n}`` once it is
    committed. Raises HandoffFailed (nobody listening, no answer within ``deadline_s``, a
    refusal); the caller then writes the spool itself."""
    path = state_dir + "/" + SOCKET
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        raise NoForwarder("no forwarder listening (socket path too long)")
    import posix

    try:   # no socket file: no forwarder, and no need to set up _socket (~0.5 M instructions)
        posix.stat(path)
    except OSError:
        raise NoForwarder("no forwarder listening") from None
    try:
        import _socket
    except ImportError as exc:   # a Python built without sockets: write directly
        raise HandoffFailed("no _socket: %s" % exc) from None
    end = time.monotonic() + deadline_s
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(deadline_s)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NoForwarder("no forwarder listening") from None
        except OSError as exc:   # EAGAIN (backlog full), timeout, EACCES ...
            raise HandoffFailed("connect: %s" % (exc,)) from None
        try:
            _send_all(sock, frame(ev), end)
            reply = _read_line(sock, end)
        except OSError as exc:
            raise HandoffFailed("no answer from the forwarder within %.1f s (%s)"
                                % (deadline_s, type(exc).__name__)) from None
    finally:
        sock.close()
    return parse_reply(reply)


def _left(end):
    left = end - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline")
    return left


def _send_all(sock, data, end):
    view = memoryview(data)
    while view:
        sock.settimeout(_left(end))
        view = view[sock.send(view):]


def _read_line(sock, end):
    got = b""
    while not got.endswith(b"\n"):
        sock.settimeout(_left(end))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionResetError("closed before answering")
        got += chunk
        if len(got) > 65536:
            raise ConnectionResetError("answer too long")
    return got


def parse_reply(reply):
    """``b"OK hook 0\n"`` -> {"kind": "hook", "dropped": 0}; anything else: HandoffFailed."""
    words = reply.decode("utf-8", "replace").split()
    if len(words) == 3 and words[0] == "OK" and words[2].isdigit():
        return {"kind": words[1], "dropped": int(words[2])}
    raise HandoffFailed("the forwarder refused: %s" % reply.decode("utf-8", "replace").strip())

"""Committing a finished hook call to the spool, and what happens when that fails.

The event is built by ``hookshim/call_event.py``; the spool assigns its place in the chain.
A spool that cannot be written follows ``on_record_failure`` and is reported to syslog,
except where refusing would harm a running guest (the guard rail of hookshim/outcome.py).
"""

import sys

from hookshim import outcome
from hookshim.call_event import build_event
from hookshim.fs import join, makedirs

WAL_KEEP_BYTES = 256 * 1024


class KeptConnections:
    """Spool connections left open by a process that leaves with posix._exit right after
    its answer (the launcher, hookshim.hook.launch), which holds this object until then.

    Closing the last connection makes SQLite checkpoint: an fsync of the database and a WAL
    unlink per call. But the next process, if it is then the only connection, rebuilds the
    WAL index by reading the WAL and forgets what was checkpointed - so a WAL left to grow
    would be re-read and re-copied on every call. Hence a connection is kept only while the
    WAL is smaller than ``max_wal_bytes``; past that it is closed, which checkpoints and
    removes the WAL (measured in bench/hook_latency.py). With the forwarder connected, no
    close ever checkpoints and the spool's wal_autocheckpoint bounds the WAL.
    """

    def __init__(self, max_wal_bytes=WAL_KEEP_BYTES):
        self.max_wal_bytes = max_wal_bytes
        self.spools = []

    def keep_or_close(self, spool):
        if spool.wal_bytes() < self.max_wal_bytes:
            self.spools.append(spool)
        else:
            spool.close()


def record(call, cfg, answer, kind="hook", kept=None):
    """Build the event for ``call`` and append it; returns the (possibly changed) answer.
    ``kept``: a KeptConnections when the process leaves with posix._exit (else the spool
    connection is closed)."""
    event = build_event(call, cfg, answer, kind)
    try:
        stored = _append(cfg, event, kept)
    except Exception as exc:  # disk full, read-only, corrupt, locked: never a traceback
        return _record_failed(call, cfg, answer, exc)
    if stored.get("kind") == "overflow":
        from hookshim import shimlog

        shimlog.log("warning", "spool full: details of %s %s %s dropped (%d so far in this "
                    "marker)" % (call.driver, call.object, call.op, stored.get("dropped") or 0))
    return answer


def _append(cfg, event, kept):
    if cfg.handoff:
        # The running forwarder commits it (no sqlite in this process); any failure, at
        # once or after handoff_timeout, falls through to the direct write below, which
        # skips the event if the forwarder committed it after all (hookshim/handoff.py).
        from hookshim.handoff import HandoffFailed, NoForwarder, hand_over

        try:
            return hand_over(cfg.state_dir, event, cfg.handoff_timeout)
        except NoForwarder:
            pass
        except HandoffFailed as exc:
            from hookshim import shimlog

            shimlog.log("warning", "hand-over to the forwarder failed (%s); writing the "
                        "spool directly" % exc)
    # Here, not at the top: a Python without sqlite still answers (on_record_failure).
    # The launcher loads the spool modules from their precompiled file (hookshim/boot.py).
    boot = sys.modules.get("hookshim.boot")
    if boot is not None:
        boot.preload("spool")
    from hookshim import spool_group
    from hookshim.spool import SPOOL_NAME, Spool

    # 0700: the spool holds guest definitions (redacted, but still private to the host).
    makedirs(cfg.state_dir, 0o700)
    opened = []

    def open_spool():
        # busy 10 s: concurrent hook calls commit in milliseconds each; a lock held longer
        # than that is a stuck writer, and libvirtd (which waits forever) must get an answer.
        opened.append(Spool(join(cfg.state_dir, SPOOL_NAME), max_bytes=cfg.spool_max_bytes,
                            busy_timeout_s=10.0))
        return opened[-1]

    # Group commit (hook storms): concurrent calls queue behind one flock and the holder
    # commits them all in one transaction, one fsync; a call whose event a leader
    # committed never opens the spool (hookshim/spool_group.py).
    try:
        return spool_group.append(open_spool, event, cfg.state_dir)
    finally:
        for spool in opened:
            if kept is None:
                spool.close()
            else:
                kept.keep_or_close(spool)


def _record_failed(call, cfg, answer, exc):
    from hookshim import shimlog

    shimlog.log("err", "could not record %s %s %s %s (exit %d): %s" % (
        call.driver, call.object, call.op, call.subop, answer.code, exc))
    if cfg is None or cfg.on_record_failure != "deny" or answer.code != 0:
        return answer
    if outcome.harms_running(call.driver, call.op, cfg.libvirt_version):
        # A full spool disk during a daemon restart must not kill one guest: nothing can
        # be written, so syslog is the record.
        shimlog.log("warning", "%s %s %s not recorded; would have refused (on_record_failure "
                    "= deny): guard rail: a non-zero answer to %s destroys or drops a running "
                    "guest; answered 0" % (call.driver, call.object, call.op, call.op))
        return answer
    from hookshim.answer import Answer

    return Answer(1, "hookshim cannot record this call (%s); refusing "
                     "(on_record_failure = deny)" % type(exc).__name__)

"""Turning a finished hook call into an event and committing it to the spool.

The event fields are those documented in ``hookshim/event.py``. The XML is redacted here,
before anything is written; ``seq``/``prev_hash``/``hash`` are assigned by the spool inside
its write transaction, so the chain is computed on the host before anything leaves it.
A spool that cannot be written follows ``on_record_failure`` and is reported to syslog,
except where refusing would harm a running guest (the guard rail of hookshim/outcome.py).
"""

import posix

from hookshim import outcome
from hookshim.fs import join, makedirs

SPOOL_NAME = "spool.db"


def record(call, cfg, answer, kind="hook"):
    """Build the event for ``call`` and append it; returns the (possibly changed) answer."""
    event = build_event(call, cfg, answer, kind)
    try:
        stored = _append(cfg, event)
    except Exception as exc:  # disk full, read-only, corrupt, locked: never a traceback
        return _record_failed(call, cfg, answer, exc)
    if stored.get("kind") == "overflow":
        log("warning", "spool full: details of %s %s %s dropped (%d so far in this marker)"
            % (call.driver, call.object, call.op, stored.get("dropped") or 0))
    return answer


def _append(cfg, event):
    from hookshim.spool import Spool

    # 0700: the spool holds guest definitions (redacted, but still private to the host).
    makedirs(cfg.state_dir, 0o700)
    # busy 10 s: concurrent hook calls commit in milliseconds each; a lock held longer
    # than that is a stuck writer, and libvirtd (which waits forever) must get an answer.
    spool = Spool(join(cfg.state_dir, SPOOL_NAME), max_bytes=cfg.spool_max_bytes,
                  busy_timeout_s=10.0)
    stored = spool.append(event)
    if KEEP_OPEN and spool.wal_bytes() < WAL_KEEP_BYTES:
        _kept.append(spool)
    else:
        spool.close()
    return stored


# The launcher leaves with posix._exit right after the answer (hook.launch sets KEEP_OPEN).
# A connection left open that way skips the checkpoint SQLite runs when the last
# connection closes (an fsync of the database and a WAL unlink per call). But the next
# process, if it is then the only connection, rebuilds the WAL index by reading the WAL
# and forgets what was checkpointed - so a WAL left to grow would be re-read and re-copied
# on every call. Hence: keep the connection open only while the WAL is small; past
# WAL_KEEP_BYTES close normally, which checkpoints and removes the WAL (measured in
# bench/hook_latency.py). With the forwarder connected, no close ever checkpoints and
# the spool's wal_autocheckpoint bounds the WAL.
KEEP_OPEN = False
WAL_KEEP_BYTES = 256 * 1024
_kept = []


def _record_failed(call, cfg, answer, exc):
    log("err", "could not record %s %s %s %s (exit %d): %s" % (
        call.driver, call.object, call.op, call.subop, answer.code, exc))
    if cfg is None or cfg.on_record_failure != "deny" or answer.code != 0:
        return answer
    if outcome.harms_running(call.driver, call.op, cfg.libvirt_version):
        # A full spool disk during a daemon restart must not kill one guest: nothing can
        # be written, so syslog is the record.
        log("warning", "%s %s %s not recorded; would have refused (on_record_failure = "
            "deny): guard rail: a non-zero answer to %s destroys or drops a running guest; "
            "answered 0" % (call.driver, call.object, call.op, call.op))
        return answer
    from hookshim.answer import Answer

    return Answer(1, "hookshim cannot record this call (%s); refusing "
                     "(on_record_failure = deny)" % type(exc).__name__)


def build_event(call, cfg, answer, kind="hook"):
    """The wire event for a finished call (without seq/prev_hash/hash)."""
    from hookshim import __version__
    from hookshim.event import ENVELOPE_VERSION, new_event_id, utc_timestamp, xml_digest

    xml, truncated = _stored_text(call.data, cfg.stdin_max_bytes if cfg else 16 << 20)
    extra_rules = cfg.redact_extra if cfg else ()
    xml, n_in = _redact(xml, extra_rules, call)
    out, n_out = _redact(answer.stdout.decode("utf-8", "replace") or None, extra_rules, call)
    results = call.results or []
    verdict = call.verdict
    return {
        "v": ENVELOPE_VERSION, "kind": kind, "event_id": new_event_id(call.started_ns),
        "host": cfg.host if cfg else posix.uname().nodename,
        "driver": call.driver, "object": call.object, "op": call.op, "subop": call.subop,
        "extra": call.extra, "domain_uuid": domain_uuid(xml),
        "started_at": utc_timestamp(call.started_ns), "duration_ms": call.elapsed_ms(),
        "exit_code": answer.code,
        "outcome": answer.outcome or outcome.derive(call.driver, call.op, answer.code,
                                                    answer.timed_out, _version(call, cfg)),
        "reason": answer.reason if answer.code or answer.outcome else None,
        "stderr": answer.stderr_text(),
        "xml": xml, "xml_sha256": xml_digest(xml), "xml_truncated": truncated,
        "output_xml": out, "output_xml_sha256": xml_digest(out), "redactions": n_in + n_out,
        "policy": None if verdict is None else {
            "bundle_version": verdict.bundle_version, "decisions": list(verdict.decisions)},
        "scripts": [r.as_event() for r in results], "warnings": list(call.warnings),
        "dropped": None,
        "shim": {"version": __version__, "hostname": posix.uname().nodename, "pid": posix.getpid()},
    }


def _version(call, cfg):
    version = getattr(call, "version", None)
    return version if version is not None or cfg is None else cfg.libvirt_version


def _stored_text(data, cap):
    """The input as stored: UTF-8 text (undecodable bytes replaced), cut at ``cap`` bytes."""
    if not data:
        return None, False
    truncated = len(data) > cap
    return data[:cap].decode("utf-8", "replace"), truncated


def _redact(text, rules, call):
    if not text:
        return text, 0
    from hookshim.redact import redact

    try:
        return redact(text, rules)
    except ValueError as exc:  # a bad extra rule: built-in rules still apply
        call.warnings.append("redact_extra ignored: %s" % exc)
        return redact(text, ())


def domain_uuid(text):
    """The first <uuid> of the XML (the domain's, or the network's), lower-case."""
    if not text:
        return None
    start = text.find("<uuid>")
    end = text.find("</uuid>", start)
    if start < 0 or end < 0:
        return None
    value = text[start + 6:end].strip().lower()
    return value if 0 < len(value) <= 64 else None


def log(level, message):
    """One line to syslog (daemon facility); silently nothing when syslog is unavailable."""
    try:
        import syslog

        priority = {"err": syslog.LOG_ERR, "warning": syslog.LOG_WARNING}.get(level,
                                                                              syslog.LOG_INFO)
        syslog.openlog("hookshim", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(priority, message.replace("\n", " ")[:2000])
    except Exception:  # noqa: BLE001 - logging must never break the hook
        pass


def log_exception(what, exc):
    """The traceback goes to syslog, one line per frame; never to libvirtd."""
    try:
        import traceback

        lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    except Exception:  # noqa: BLE001
        lines = [repr(exc)]
    log("err", "%s: %s: %s" % (what, type(exc).__name__, exc))
    for chunk in "".join(lines).splitlines():
        log("err", "  " + chunk)

"""The event for a finished hook call (the fields of ``hookshim/event.py``).

The XML is redacted here, before anything is written; ``seq``/``prev_hash``/``hash`` are
left to the spool, which assigns them inside its write transaction.
"""

import posix

from hookshim import __version__, outcome
from hookshim.event import ENVELOPE_VERSION, domain_uuid, new_event_id, utc_timestamp, xml_digest


def build_event(call, cfg, answer, kind="hook"):
    """The wire event for a finished call (without seq/prev_hash/hash)."""
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

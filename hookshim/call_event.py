"""The event for a finished hook call (the fields of ``hookshim/event.py``).

The XML is redacted here, before anything is written (and before it is cut to the size
cap, so a secret straddling the cap is masked whole); every value redacted is also scrubbed
from the scripts' output the event records (hookshim/scrub.py). ``seq``/``prev_hash``/
``hash`` are left to the spool, which assigns them inside its write transaction.
"""

import posix

from hookshim import __version__, outcome
from hookshim.event import ENVELOPE_VERSION, domain_uuid, new_event_id, utc_timestamp, xml_digest


def build_event(call, cfg, answer, kind="hook"):
    """The wire event for a finished call (without seq/prev_hash/hash)."""
    xml, truncated, n_in, found = redacted_input(call, cfg)
    found = list(found)
    out, n_out = _redact(answer.stdout.decode("utf-8", "replace") or None,
                         cfg.redact_extra if cfg else (), call, found)
    results = call.results or []
    verdict = call.verdict
    stderr, reason = answer.stderr_text(), answer.reason if answer.code or answer.outcome else None
    scripts = [r.as_event() for r in results]
    scrubbed = sum(getattr(r, "scrubbed", 0) for r in results)
    if found:
        stderr, reason, out, more = _scrub(found, stderr, reason, out, scripts)
        scrubbed += more
    return {
        "v": ENVELOPE_VERSION, "kind": kind, "event_id": new_event_id(call.started_ns),
        "host": cfg.host if cfg else posix.uname().nodename,
        "driver": call.driver, "object": call.object, "op": call.op, "subop": call.subop,
        "extra": call.extra, "domain_uuid": domain_uuid(xml),
        "started_at": utc_timestamp(call.started_ns), "duration_ms": call.elapsed_ms(),
        "exit_code": answer.code,
        "outcome": answer.outcome or outcome.derive(call.driver, call.op, answer.code,
                                                    answer.timed_out, _version(call, cfg)),
        "reason": reason, "stderr": stderr,
        "xml": xml, "xml_sha256": xml_digest(xml), "xml_truncated": truncated,
        "output_xml": out, "output_xml_sha256": xml_digest(out),
        "redactions": n_in + n_out + scrubbed,
        "policy": None if verdict is None else {
            "bundle_version": verdict.bundle_version, "decisions": list(verdict.decisions)},
        "scripts": scripts, "warnings": list(call.warnings),
        "dropped": None,
        "shim": {"version": __version__, "hostname": posix.uname().nodename, "pid": posix.getpid()},
    }


def _version(call, cfg):
    version = getattr(call, "version", None)
    return version if version is not None or cfg is None else cfg.libvirt_version


def redacted_input(call, cfg):
    """(stored XML, truncated, values masked, the masked values) of the call's input, once
    per call (the scripts' stderr is scrubbed with them before the event is built). The
    input is UTF-8 text (undecodable bytes replaced), redacted, then cut at the size cap."""
    cached = getattr(call, "redacted", None)
    if cached is not None:
        return cached
    data, cap = call.data, cfg.stdin_max_bytes if cfg else 16 << 20
    found = []
    if not data:
        cached = (None, False, 0, found)
    else:
        text, n = _redact(data.decode("utf-8", "replace"), cfg.redact_extra if cfg else (),
                          call, found)
        if len(data) > cap:
            text = text.encode("utf-8", "surrogatepass")[:cap].decode("utf-8", "replace")
        cached = (text, len(data) > cap, n, found)
    call.redacted = cached
    return cached


def _redact(text, rules, call, found=None):
    if not text:
        return text, 0
    from hookshim.redact import redact

    try:
        return redact(text, rules, found)
    except ValueError as exc:  # a bad extra rule: built-in rules still apply
        call.warnings.append("redact_extra ignored: %s" % exc)
        return redact(text, (), found)


def _scrub(found, stderr, reason, out, scripts):
    """The secret values out of the shim's stderr and reason, the filter output and each
    script's stderr (hookshim/scrub.py); returns them and how many were replaced."""
    from hookshim.scrub import forms, scrub_text

    patterns = forms(found)
    total = 0
    stderr, n = scrub_text(stderr, patterns)
    total += n
    reason, n = scrub_text(reason, patterns)
    total += n
    out, n = scrub_text(out, patterns)
    total += n
    for run in scripts:
        run["stderr"], n = scrub_text(run["stderr"], patterns)
        total += n
    return stderr, reason, out, total

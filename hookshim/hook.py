"""The hook call: what libvirtd runs as ``<hooks_dir>/<driver>`` (through the launcher).

    argv + stdin ──▶ policy (local bundle) ──▶ adopted scripts (libvirt semantics)
                 ──▶ answer (exit code, one-line reason on stderr, filter XML on stdout)
                 ──▶ one spool row, committed ──▶ exit

Never a traceback to libvirtd: any internal error is logged to syslog, recorded when
possible and answered per ``on_internal_error``. Imports are lazy: a call that has no
policy bundle and no adopted scripts loads only posix/sys/time, sqlite and this package
(never ``os``: see hookshim/fs.py).
"""

import posix
import sys
import time

from hookshim import outcome
from hookshim.answer import Answer, one_line as _one_line
from hookshim.fs import exists, fsencode

_EXPECTED_ARGS = 4   # object op subop extra
SPAWN_FAILED_CODE = 126   # scripts.SPAWN_FAILED (not imported: scripts loads lazily)


class Call:
    """One hook invocation: argv, stdin, timing, and what happened so far."""

    def __init__(self, driver, args):
        self.started_ns = time.time_ns()
        self.t0 = time.monotonic()
        self.driver = driver
        self.raw_args = [fsencode(a) for a in args]
        self.warnings = []
        padded = (self.raw_args + [b"-"] * _EXPECTED_ARGS)[:_EXPECTED_ARGS]
        if len(self.raw_args) != _EXPECTED_ARGS:
            self.warnings.append("libvirt passed %d arguments, expected %d (object op subop "
                                 "extra)" % (len(self.raw_args), _EXPECTED_ARGS))
        # The event stores text: bytes that are not UTF-8 are kept visible as \\xNN.
        self.object, self.op, self.subop, self.extra = [
            a.decode("utf-8", "backslashreplace") for a in padded]
        self.data = b""
        self.results = None        # scripts.Result list once the adopted scripts ran
        self.script_answer = None  # how the scripts alone answered (on_internal_error)
        self.verdict = None
        self.version = None        # the host's libvirt release (config), None: unknown
        self.redacted = None       # call_event.redacted_input, computed once

    @property
    def is_filter(self):
        return outcome.is_filter(self.driver, self.op)

    def elapsed_ms(self):
        return round((time.monotonic() - self.t0) * 1000.0, 3)


def launch(config_path, driver, hooks_dir):
    """Entry point of the generated launcher: run the call, then leave at once."""
    from hookshim.record import KeptConnections

    kept = KeptConnections()   # held until posix._exit below: see KeptConnections
    code = main(sys.argv[1:], config_path, driver, hooks_dir, kept=kept)
    # _exit: everything is written with posix.write and the spool row is committed
    # (fsynced); skipping interpreter teardown saves time on a path libvirtd waits on.
    posix._exit(code)


def main(args, config_path, driver, hooks_dir=None, fds=(0, 1, 2), kept=None):
    """Handle one call; returns the exit code. Never raises. ``kept``: a
    record.KeptConnections when the process leaves with posix._exit."""
    call = Call(driver, args)
    cfg = None
    try:
        _ensure_std_fds()
        call.data = _read_all(fds[0])
        cfg = _config(config_path, call)
        call.version = cfg.libvirt_version
        answer = handle(call, cfg, hooks_dir or cfg.hooks_dir, kept)
    except BaseException as exc:  # noqa: B902 - libvirtd must always get an answer
        answer = internal_error(call, cfg, hooks_dir, exc, kept)
    _emit(answer, fds)
    return answer.code


def _ensure_std_fds():
    """libvirt gives fds 0-2; when run by hand one may be closed: point it at /dev/null
    so a later memfd or the spool never lands on 0-2."""
    for fd in (0, 1, 2):
        try:
            posix.fstat(fd)
        except OSError:
            null = posix.open("/dev/null", posix.O_RDWR)
            if null != fd:
                posix.dup2(null, fd)
                posix.close(null)


def _read_all(fd):
    chunks = []
    while True:
        try:
            chunk = posix.read(fd, 4 << 20)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _config(path, call):
    from hookshim.config import ConfigError, build, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        call.warnings.append("configuration ignored, defaults used: %s" % exc)
        return build({}, path)


def handle(call, cfg, hooks_dir, kept=None):
    """Policy, adopted scripts, answer, record. Returns the Answer."""
    xml_text = call.data.decode("utf-8", "surrogateescape")
    verdict = _policy(call, cfg, xml_text)
    call.verdict = verdict
    feed = call.data
    if verdict is not None and verdict.output_xml is not None:
        if call.is_filter:
            feed = verdict.output_xml.encode("utf-8", "surrogateescape")
        else:
            call.warnings.append("policy rewrote the XML of a non-filter op; ignored")
    _check_unmanaged(call, hooks_dir)
    if verdict is not None and verdict.deny:
        answer = _deny(call, cfg, hooks_dir, verdict, feed)
    else:
        answer = _run_scripts(call, cfg, hooks_dir, feed)
    if not outcome.is_known(call.driver, call.op):
        call.warnings.append("op %r of driver %r is not in the outcome table" %
                             (call.op, call.driver))
    elif answer.code or answer.outcome:
        _explain_failure(call)
    from hookshim.record import record

    return record(call, cfg, answer, kept=kept)


def _explain_failure(call):
    """What libvirt does with this refusal, per the host's release (a guest left off by a
    refused reboot, a libxl domain dropped from management...): the event says so."""
    said = outcome.effect(call.driver, call.op, call.version)
    if said:
        call.warnings.append("libvirt's reaction: " + said)
    if outcome.parse_version(call.version) is None:
        call.warnings.append("libvirt version unknown (libvirt_version): the outcome is the "
                             "worst reading of releases %s" % ", ".join(outcome.VERIFIED))


def _policy(call, cfg, xml_text):
    """Evaluate the local bundle; any failure fails open (allow) with a warning."""
    if not exists(cfg.policy_bundle):
        return None  # no bundle: allow, and spare the policy engine's imports
    try:
        from hookshim import policy

        bundle = policy.load_bundle(cfg.policy_bundle)
        if bundle is None:
            return None
        return policy.evaluate(bundle, _call_dict(call, cfg, xml_text), xml_text)
    except Exception as exc:  # BundleError or a bug in evaluation: fail open
        call.warnings.append("policy not applied (fail open): %s: %s" %
                             (type(exc).__name__, _one_line(str(exc))))
        return None


def _call_dict(call, cfg, xml_text):
    from hookshim.event import domain_uuid

    return {"driver": call.driver, "object": call.object, "op": call.op,
            "subop": call.subop, "extra": call.extra, "host": cfg.host,
            "domain_uuid": domain_uuid(xml_text), "libvirt_version": call.version}


def _check_unmanaged(call, hooks_dir):
    from hookshim import scripts

    for path in scripts.unmanaged(hooks_dir, call.driver):
        call.warnings.append("unmanaged hook script %s: libvirt runs it after the shim, "
                             "unrecorded; adopt it with `hookshim install %s`"
                             % (path, call.driver))


def _deny(call, cfg, hooks_dir, verdict, feed):
    """Refuse. Cleanup ops (failure ignored by libvirt) still run the adopted scripts, so
    a refused ``release`` never skips the host's own cleanup; what their failure would have
    shown in virsh is still shown, followed by the policy's one line."""
    shown = ""
    if outcome.failure_is_ignored(call.driver, call.op, call.version):
        shown = _run_scripts(call, cfg, hooks_dir, feed).stderr or ""
    reason = "denied by hookaudit policy: %s" % _one_line(verdict.reason or "no reason given")
    return Answer(1, reason, stderr=shown + reason + "\n")


def _run_scripts(call, cfg, hooks_dir, feed):
    """Run the adopted scripts and turn their results into libvirt's answer."""
    from hookshim import scripts

    found, has_main = scripts.adopted(hooks_dir, call.driver)
    if found and scripts.nested():
        call.warnings.append("started by one of its own adopted scripts: they are not run "
                             "again (loop)")
        found = []
    output = None
    if found:
        scripts.seal_fds()
        call.results, failed, output = scripts.run_chain(
            found, has_main, call.raw_args, feed, call.is_filter, cfg.script_timeout,
            cfg.stderr_max_bytes, _secrets(call, cfg, feed))
    else:
        call.results, failed = [], False
    answer = _failure(call.results) if failed else Answer(0)
    if failed and _only_timeouts(call.results) and \
            outcome.harms_running(call.driver, call.op, call.version):
        # The timeout is the shim's decision (libvirt would wait): it never kills a guest.
        guard_rail(call, "script_timeout")
        answer = Answer(0, answer.reason, b"", True, outcome="timed_out")
    if not failed and call.is_filter:
        answer = _filter_answer(call, output or feed)
    call.script_answer = answer
    return answer


def _secrets(call, cfg, feed):
    """The values the XML redaction masks in what the scripts are given (the input, and a
    policy's rewrite of it), as hookshim/scrub.py patterns: never kept from their stderr."""
    from hookshim.call_event import _redact, redacted_input

    # The list is the one build_event scrubs the event with: a policy's rewrite adds its
    # values there too.
    found = redacted_input(call, cfg)[3]
    if feed is not call.data and feed:
        _redact(feed.decode("utf-8", "replace"), cfg.redact_extra, call, found)
    if not found:
        return ()
    from hookshim.scrub import forms

    return forms(found)


def _only_timeouts(results):
    return all(r.timed_out for r in results if r.exit_code != 0 or r.timed_out)


def _failure(results):
    """libvirt reports the LAST failing script (each failure replaces the previous error,
    virRunScript -> virCommandRun): its exit status and its whole stderr, which the shim
    prints as is. The shim's own line is added only for what it decided (a timeout)."""
    last = [r for r in results if r.exit_code != 0 or r.timed_out][-1]
    timed_out = any(r.timed_out for r in results)
    if last.timed_out:
        why = "timed out after %.0f ms (process group killed)" % last.duration_ms
    elif last.exit_code < 0:
        why = "killed by signal %d" % -last.exit_code
    else:
        why = "exit status %d" % last.exit_code
    detail = _telling_line(last.stderr or "")
    reason = "hook script %s failed: %s%s" % (last.path, why, ": " + detail if detail else "")
    shown = last.stderr or ""
    spawn_failed = last.exit_code == SPAWN_FAILED_CODE and (last.stderr or "").startswith(
        "cannot execute: ")
    if last.timed_out or last.exit_code < 0 or spawn_failed:
        shown += ("\n" if shown and not shown.endswith("\n") else "") + reason + "\n"
    code = last.exit_code if 0 < last.exit_code < 256 else 1
    return Answer(code, reason, b"", timed_out, stderr=shown)


def _filter_answer(call, final):
    """stdout only when the XML changed. Output libvirt will refuse is still handed over
    (libvirt refuses it with its own message, as without the shim) and recorded as what
    libvirt then does: the operation is cancelled."""
    from hookshim.scripts import is_blank

    if is_blank(final) or final == call.data:
        return Answer(0)
    from hookshim.filter_check import refusal

    why = refusal(call.driver, call.op, call.data, final)
    if why is None:
        return Answer(0, None, final)
    return Answer(0, "libvirt will refuse the %s filter output and cancel the %s: %s"
                  % (call.op, call.op, why), final, outcome="aborted")


def internal_error(call, cfg, hooks_dir, exc, kept=None):
    """Log, record if possible, and answer per on_internal_error - except that the shim's
    own failure never refuses an op where that harms a running guest (guard rail)."""
    from hookshim import shimlog

    shimlog.log_exception("internal error in %s %s %s" % (call.driver, call.object, call.op), exc)
    mode = cfg.on_internal_error if cfg is not None else "passthrough"
    if mode == "deny" and outcome.harms_running(call.driver, call.op, call.version):
        mode = "passthrough"
        guard_rail(call, "on_internal_error = deny")
    if mode == "allow":
        answer = Answer(0)
    elif mode == "deny":
        answer = Answer(1, "hookshim internal error (%s); refusing (on_internal_error = deny)"
                        % type(exc).__name__)
    else:
        answer = _passthrough(call, cfg, hooks_dir)
    try:
        call.warnings.append("internal error: %s: %s" % (type(exc).__name__, _one_line(str(exc))))
        from hookshim.record import record

        record(call, cfg, answer, kind="internal_error", kept=kept)
    except BaseException as again:  # noqa: B902 - recording is best effort here
        shimlog.log_exception("could not record the internal error", again)
    return answer


def guard_rail(call, setting):
    """The shim would have refused, but a refusal here harms a running guest: say so in
    the event and in syslog; the caller answers as if the shim were not there."""
    from hookshim import shimlog

    said = "would have refused (%s): guard rail: a non-zero answer to %s %s destroys or " \
           "drops a running guest" % (setting, call.driver, call.op)
    call.warnings.append(said)
    shimlog.log("warning", "%s %s: %s" % (call.driver, call.object, said))


def _passthrough(call, cfg, hooks_dir):
    """Answer as the adopted scripts did (running them now if they have not run)."""
    if call.script_answer is not None:
        return call.script_answer
    try:
        from hookshim.config import build

        cfg = cfg or build({})
        return _run_scripts(call, cfg, hooks_dir or cfg.hooks_dir, call.data)
    except BaseException as exc:  # noqa: B902
        from hookshim import shimlog

        shimlog.log_exception("adopted scripts could not be run", exc)
        return Answer(0)


def _emit(answer, fds):
    try:
        if answer.stdout:
            _write(fds[1], answer.stdout)
        shown = answer.stderr_text()
        if shown:
            _write(fds[2], shown.encode("utf-8", "replace"))
    except OSError:
        pass  # libvirtd went away; the exit code is all that is left to give


def _write(fd, data):
    view = memoryview(data)
    while view:
        view = view[posix.write(fd, view):]


def _telling_line(stderr):
    """The line of a failed script's stderr that says what went wrong.

    Usually the first non-empty line; for a Python traceback the last one
    ("KeyError: 'cmdb'"), since the first is only "Traceback (most recent call last):".
    """
    lines = [line.strip() for line in str(stderr).splitlines() if line.strip()]
    if not lines:
        return ""
    pick = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
    return pick[:400]

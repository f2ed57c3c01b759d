"""Say in words what a hook call did to the guest operation (libvirt's op semantics).

Pure: ``explain(event) -> str``. The table follows docs/libvirt.md; the words
are what an operator paged at 03:00 needs: what libvirt did because of this call.
"""
from __future__ import annotations

# (op, outcome) -> sentence; "{what}" is "guest" or "network", "{obj}" the object's name.
SENTENCES = {
    ("prepare", "ok"): "start allowed: the prepare hook passed, libvirt went on preparing {obj}",
    ("prepare", "aborted"): "start refused: libvirt aborted the {what} start before any resources were set up",
    ("start", "ok"): "start allowed: libvirt went on launching {obj}",
    ("start", "aborted"): "start refused: libvirt aborted the {what} start (stopped and release hooks follow)",
    ("started", "ok"): "{obj} is running: the started hook passed",
    ("started", "killed"): "guest killed: the started hook failed, so libvirt destroyed the running "
                           "{what} (shutoff reason: failed)",
    ("started", "aborted"): "start failed: the started hook failed; libvirt dropped the {what} from "
                            "its management while the hypervisor may keep running it (libxl 2.2.0)",
    ("stopped", "ok"): "{obj} stopped; the hook ran after the fact",
    ("stopped", "failed_ignored"): "the stopped hook failed; libvirt ignores this, {obj} stopped anyway",
    ("release", "ok"): "{obj} released its resources; this boot is over",
    ("release", "failed_ignored"): "the release hook failed; libvirt ignores this, resources were released anyway",
    ("migrate", "ok"): "incoming migration allowed (the filter kept or rewrote the definition)",
    ("migrate", "aborted"): "incoming migration cancelled: the migrate filter refused {obj} on this host",
    ("restore", "ok"): "restore allowed (the filter kept or rewrote the saved definition)",
    ("restore", "aborted"): "restore refused: libvirt cancelled restoring {obj} from its save image",
    ("reconnect", "ok"): "libvirtd restarted and re-attached to the running {what}",
    ("reconnect", "killed"): "guest killed: after a libvirtd restart the reconnect hook failed, so the "
                             "running {what} was destroyed",
    ("reconnect", "aborted"): "guest dropped: after a libvirtd restart the reconnect hook failed; libvirt "
                              "no longer manages the running {what} and handed its host devices back "
                              "(libxl 9.0+: Xen keeps running it)",
    ("plugged", "killed"): "interface refused: a new one fails the guest start; during a libvirtd "
                           "restart the running guest was destroyed (libvirt 2.2.0)",
    ("attach", "ok"): "libvirt attached to an externally started {what}",
    ("attach", "killed"): "guest killed: the attach hook failed",
    ("port-created", "aborted"): "network port creation refused: the guest's interface was not plugged",
    ("updated", "failed_ignored"): "the updated hook failed after the network update was applied: "
                                   "the caller saw an error, nothing was rolled back",
}

GENERIC = {
    "ok": "the hook allowed this {op} call",
    "aborted": "the hook refused this {op} call and libvirt aborted the operation",
    "killed": "the hook failure made libvirt destroy the running {what}",
    "failed_ignored": "the hook failed, but libvirt ignores failures of {op}: the operation went on",
    "timed_out": "the hook ran past its time limit and was stopped; libvirt treated it as a failure of {op}",
}


def explain(event: dict) -> str:
    """One sentence: what this call did to the guest (or network / daemon) operation."""
    kind = event.get("kind") or "hook"
    if kind == "overflow":
        return (f"the host's spool was full: {event.get('dropped') or 'some'} hook calls were "
                "answered but their details were not recorded")
    if kind == "internal_error":
        return "the shim itself failed on this call and answered libvirtd by its fail-safe setting"
    op, outcome = event.get("op") or "-", event.get("outcome") or "ok"
    driver = event.get("driver") or ""
    what = {"network": "network", "daemon": "daemon"}.get(driver, "guest")
    if driver == "daemon":
        return f"libvirtd {event.get('subop') or op}: daemon hook results are ignored ({outcome})"
    if driver == "network" and (op, outcome) == ("start", "aborted"):
        return "network start refused: libvirt did not start the network"
    template = SENTENCES.get((op, outcome)) or GENERIC.get(outcome, "outcome {outcome} of {op}")
    return template.format(what=what, op=op, outcome=outcome, obj=event.get("object") or "the " + what)

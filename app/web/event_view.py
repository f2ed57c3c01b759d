"""What the event page adds to an event's fields, pure: what virsh printed, how each policy
verdict reads, and a glossary of the driver's ops derived from hookshim/outcome.py ROWS.
"""
from __future__ import annotations

from hookshim import outcome as model

# When libvirt calls each op, for the guest (or network/daemon). What a *failure* does comes
# from hookshim/outcome.py (ROWS, verified in libvirt's source), not from here;
# tests/dashboard/test_event_view.py checks every op of ROWS has a line.
FIRES: dict = {
    "prepare": "a start begins, before libvirt sets anything up",
    "start": "resources are ready, just before the guest runs",
    "started": "the guest is running",
    "stopped": "the guest has stopped (after the fact)",
    "release": "its resources are freed: this boot is over",
    "migrate": "an incoming migration, before the guest is defined here; a filter: it may "
               "print a rewritten definition",
    "restore": "a restore from a save image; a filter like migrate",
    "reconnect": "libvirtd restarted and re-attaches to the running guest",
    "attach": "libvirt attaches to a guest started outside it",
    "plugged": "a guest's interface is plugged into the network",
    "unplugged": "a guest's interface is unplugged",
    "port-created": "a port for a guest interface is created on the network",
    "port-deleted": "that port is deleted",
    "updated": "the network's definition was changed while it runs",
    "shutdown": "libvirtd is shutting down",
    "reload": "libvirtd reloads its configuration (SIGHUP)",
    # the same op names mean something else for a network or the daemon
    ("network", "start"): "the network is about to start",
    ("network", "started"): "the network is running",
    ("network", "stopped"): "the network has stopped",
    ("daemon", "start"): "libvirtd starts",
}
# Outcomes in which libvirt returns the hook's error to the API caller (virsh prints it).
SHOWN_TO_CALLER = ("aborted", "killed", "timed_out")


def virsh_error(ev: dict) -> str | None:
    """The error libvirt returned to the caller, as virsh prints it (docs/libvirt.md: stderr),
    for a failed call whose failure libvirt does not ignore; None otherwise.

    The hook's stderr is the event's ``stderr``: exactly what the shim printed
    (hookshim/answer.py ``Answer.stderr_text``). libvirt's environment prefix is elided."""
    shown = (ev.get("outcome") in SHOWN_TO_CALLER
             or (ev.get("driver"), ev.get("op")) == ("network", "updated"))
    if not ev.get("exit_code") or not shown:
        return None
    argv = " ".join(str(ev.get(k) or "-") for k in ("object", "op", "subop", "extra"))
    return (f"error: Hook script execution failed: internal error: Child process (LC_ALL=C "
            f"PATH=… /etc/libvirt/hooks/{ev.get('driver')} {argv}) unexpected exit status "
            f"{ev['exit_code']}: {ev.get('stderr') or ''}").rstrip("\n")


def verdict_view(decision: dict) -> tuple[str, str]:
    """(CSS class, words) of one policy decision: only an enforced deny that was applied is
    the refusing red; warn and dryrun denials are what the rule *would* have done."""
    verdict, mode = decision.get("verdict"), decision.get("mode")
    if verdict == "deny":
        if mode == "warn":
            return "v-warn", "would deny (warn)"
        if mode == "dryrun":
            return "v-dryrun", "would deny (dryrun)"
        if decision.get("error"):
            return "v-error", "deny not applied"
        return "v-deny", "deny"
    if verdict == "mutate":
        return ("v-mutate", "rewrite") if mode == "enforce" else (
            f"v-{mode}", f"would rewrite ({mode})")
    if verdict == "error":
        return "v-error", "error"
    return "v-allow", verdict or "allow"


def glossary(driver: str, version: str | None = None) -> list[dict]:
    """Every op ``driver`` calls: when it fires, and what libvirt does when the hook fails."""
    out = []
    for op in model.ops(driver):
        found = model.rows(driver, op, version) or model.rows(driver, op)
        out.append({"op": op, "fires": FIRES.get((driver, op)) or FIRES.get(op, ""),
                    "failure": model.failure_outcome(driver, op, version) or
                    model.failure_outcome(driver, op),
                    "effect": " / ".join(dict.fromkeys(r.effect for r in found)),
                    "filter": model.is_filter(driver, op)})
    return out

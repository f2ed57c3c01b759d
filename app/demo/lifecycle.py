"""Which hook calls libvirtd makes, in which order, for each lifecycle event, per driver.

Straight from ``docs/libvirt-hooks.md`` (shared): the success path of each event, and what
follows when one call fails. Pure data and functions; the runner executes them.

A call is ``(op, subop, extra)``; the XML fed on stdin is decided by the runner.
"""
from __future__ import annotations

# The success paths. libxl passes "-" as <extra> always.
START = (("prepare", "begin"), ("start", "begin"), ("started", "begin"))
STOP = (("stopped", "end"), ("release", "end"))

# qemu since libvirt 10.5 passes the shutoff reason as release's <extra>; libxl never does.
RELEASE_REASONS = ("shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "daemon")

FILTER_OPS = ("migrate", "restore")


def stop_calls(driver: str, reason: str = "shutdown") -> list[tuple[str, str, str]]:
    """A guest going away (shutdown, destroy, outgoing migration confirmed, save)."""
    extra = reason if driver == "qemu" else "-"
    return [("stopped", "end", "-"), ("release", "end", extra)]


def start_calls(driver: str, filter_op: str | None = None) -> list[tuple[str, str, str]]:
    """A guest coming up: boot, incoming migration (``migrate`` filter first) or restore.

    libxl has no ``restore`` filter: a restored libxl guest only sees prepare/start/started.
    """
    calls = [(op, subop, "-") for op, subop in START]
    if filter_op == "migrate" or (filter_op == "restore" and driver == "qemu"):
        calls.insert(0, (filter_op, "begin", "-"))
    return calls


def after_failure(driver: str, op: str) -> list[tuple[str, str, str]]:
    """What libvirtd still calls after ``op`` failed during a start sequence.

    - a failed filter (migrate/restore) cancels before anything started: nothing follows;
    - libxl: a failed prepare aborts with no cleanup calls; start/started failures tear down;
    - qemu: even a failed prepare is followed by stopped + release.
    """
    if op in FILTER_OPS:
        return []
    if driver == "libxl" and op == "prepare":
        return []
    return stop_calls(driver, "failed")


DAEMON_START = ("start", "-", "start")
DAEMON_SHUTDOWN = ("shutdown", "-", "shutdown")
RECONNECT = ("reconnect", "begin", "-")

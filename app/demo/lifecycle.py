"""Which hook calls libvirtd makes, in which order, for each lifecycle event, per driver.

Straight from ``docs/libvirt.md``: the success path of each event, and what
follows when one call fails. Pure data and functions; the runner executes them.

A call is ``(op, subop, extra)``; the XML fed on stdin is decided by the runner.
"""
from __future__ import annotations

from hookshim import outcome

# The libvirt release the demo plays (hookshim/outcome.py reads libvirt per release).
LIBVIRT = "11.3.0"

# The success paths. libxl passes "-" as <extra> always.
START = (("prepare", "begin"), ("start", "begin"), ("started", "begin"))
STOP = (("stopped", "end"), ("release", "end"))

# qemu and lxc since libvirt 10.5 pass the shutoff reason as release's <extra>.
RELEASE_REASONS = ("shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "daemon")

FILTER_OPS = tuple(sorted({op for _, op in outcome.FILTER_OPS}))


def stop_calls(driver: str, reason: str = "shutdown") -> list[tuple[str, str, str]]:
    """A guest going away (shutdown, destroy, outgoing migration confirmed, save)."""
    extra = reason if driver in outcome.RELEASE_REASON_DRIVERS else "-"
    return [("stopped", "end", "-"), ("release", "end", extra)]


def start_calls(driver: str, filter_op: str | None = None) -> list[tuple[str, str, str]]:
    """A guest coming up: boot, incoming migration (``migrate`` filter first) or restore.

    libxl has no ``restore`` filter: a restored libxl guest only sees prepare/start/started.
    """
    calls = [(op, subop, "-") for op, subop in START]
    if filter_op is not None and outcome.is_filter(driver, filter_op):
        calls.insert(0, (filter_op, "begin", "-"))
    return calls


def after_failure(driver: str, op: str) -> list[tuple[str, str, str]]:
    """What libvirtd still calls after ``op`` failed during a start sequence.

    - a failed filter (migrate/restore) cancels before anything started: nothing follows;
    - libxl (9.0+): a failed prepare aborts with no cleanup calls; bhyve never fires them
      after a failed start; otherwise stopped + release follow (hookshim/outcome.py).
    """
    if not outcome.cleanup_follows(driver, op, LIBVIRT):
        return []
    return stop_calls(driver, "failed")


DAEMON_START = ("start", "-", "start")
DAEMON_SHUTDOWN = ("shutdown", "-", "shutdown")
RECONNECT = ("reconnect", "begin", "-")

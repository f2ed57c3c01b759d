"""What a hook call's answer did to the guest operation (pure; the server never re-derives it).

libvirt acts on a non-zero exit differently per driver and op (see
docs/hookshim.md, "per-op failure behaviour"); this module is that table.
"""

# (driver or "*", op) -> outcome of a non-zero exit. First match wins: the driver's own
# row, then the "*" row for the domain drivers (qemu, lxc, libxl, bhyve share the ops).
FAILURE = {
    # prepare: start refused before anything ran; qemu/lxc then fire stopped + release,
    # libxl fires nothing - either way the guest does not run.
    ("*", "prepare"): "aborted",
    # start: the domain was created but is torn down before it runs.
    ("*", "start"): "aborted",
    # started: the guest ran and is destroyed (libxl: shutoff reason "failed").
    ("*", "started"): "killed",
    # stopped / release: libvirt logs the failure and carries on.
    ("*", "stopped"): "failed_ignored",
    ("*", "release"): "failed_ignored",
    # migrate (destination) / restore: the filter refused, the incoming guest is cancelled.
    ("*", "migrate"): "aborted",
    ("*", "restore"): "aborted",
    # reconnect after a libvirtd restart: documented to kill the running guest.
    ("*", "reconnect"): "killed",
    # qemu attach (obsolete): the attach is refused.
    ("*", "attach"): "aborted",
    # network: start/started failures tear the network down before use; a refused port
    # fails the guest interface; teardown notifications are ignored.
    ("network", "start"): "aborted",
    ("network", "started"): "aborted",
    ("network", "port-created"): "aborted",
    ("network", "plugged"): "aborted",
    ("network", "updated"): "aborted",
    ("network", "stopped"): "failed_ignored",
    ("network", "port-deleted"): "failed_ignored",
    ("network", "unplugged"): "failed_ignored",
}

# The daemon hook's result is ignored for every op.
_IGNORED_DRIVERS = ("daemon",)
_DOMAIN_DRIVERS = ("qemu", "lxc", "libxl", "bhyve")
# A driver libvirt may add later, or an op nobody has listed: recorded as it came; a failure
# is then assumed not to have stopped anything (the safe reading for an audit trail is
# "we do not know it aborted"), and the hook adds a warning.
UNKNOWN = "failed_ignored"

FILTER_OPS = {("libxl", "migrate"), ("qemu", "migrate"), ("qemu", "restore")}


def failure_outcome(driver, op):
    """The outcome of a non-zero answer for ``driver``/``op``; None when the op is unknown."""
    if driver in _IGNORED_DRIVERS:
        return "failed_ignored"
    row = FAILURE.get((driver, op))
    if row is None and driver in _DOMAIN_DRIVERS:
        row = FAILURE.get(("*", op))
    return row


def derive(driver, op, exit_code, timed_out=False):
    """ok | aborted | killed | failed_ignored | timed_out for one answered call."""
    if timed_out:
        return "timed_out"
    if exit_code == 0:
        return "ok"
    return failure_outcome(driver, op) or UNKNOWN


def is_known(driver, op):
    """True when the table knows what a failure of this op does."""
    return failure_outcome(driver, op) is not None


def is_filter(driver, op):
    """migrate (libxl, qemu) and restore (qemu) may rewrite the XML on stdout."""
    return (driver, op) in FILTER_OPS


def failure_is_ignored(driver, op):
    """libvirt carries on whatever the hook answers (cleanup ops, daemon notifications)."""
    return derive(driver, op, 1) == "failed_ignored"


def guard_rail_ops(driver, version=None):
    """Ops of ``driver`` where a non-zero answer harms a guest that is already running.

    The shim's own failures (and the launcher's fallback when the shim cannot load) never
    answer non-zero to these: ``version`` is the host's libvirt release (None: unknown).
    """
    ops = {op for (d, op) in FAILURE if d in (driver, "*")}
    return sorted(op for op in ops if failure_outcome(driver, op) == "killed")

"""What libvirt does with a hook's answer, per driver, op and libvirt release (pure, stdlib).

This module is the project's one account of libvirt's hook behaviour: drivers and their ops,
filter ops, what a non-zero answer does, and which ops must never be refused when the shim
itself fails. The policy linter, the server, the demo and docs/libvirt.md read it; nothing
else restates it (tests/hookshim/test_outcome.py checks the document against ROWS).

Every row was read in libvirt's C source at the releases in VERIFIED. Behaviour between two
verified releases is not pinned to a version, so a release in between takes the safer of the
two readings, and an unknown release (None) the safest of all three.
"""

VERIFIED = ("2.2.0", "9.0.0", "11.3.0")
OLD, NEW = ("2.2.0",), ("9.0.0", "11.3.0")
ALL = VERIFIED

# The release that first shipped each driver's hook (libxl: the commit landed after the
# 2.2.0 version bump, so libvirt's documented "since 2.1.0" never shipped).
DRIVERS = {"daemon": "0.8.0", "qemu": "0.8.0", "lxc": "0.8.0", "network": "1.2.2",
           "libxl": "2.2.0", "bhyve": "6.1.0"}
# qemu and lxc pass the shutoff reason as release's extra (since 10.5.0).
RELEASE_REASON_DRIVERS = ("qemu", "lxc")
# migrate (libxl, qemu) and restore (qemu) may print a new definition on stdout.
FILTER_OPS = frozenset({("libxl", "migrate"), ("qemu", "migrate"), ("qemu", "restore")})
# Filters whose output libvirt compares with the input definition (qemu's ABI check
# refuses a new name or UUID: virDomainDefCheckABIStabilityFlags); libxl only parses it.
ABI_CHECKED = frozenset({("qemu", "migrate"), ("qemu", "restore")})

# Outcomes of the event contract, mildest first: "the safer reading" is the later one.
SEVERITY = ("ok", "failed_ignored", "timed_out", "aborted", "killed")
UNKNOWN = "failed_ignored"   # an op nobody listed: not assumed to have stopped anything

_REBOOT = ("; if this start is a guest-initiated reboot the guest stays off (libvirt passes "
           "the same argv and XML as for a start, so the hook cannot tell)")
_LXC_START = "src/lxc/lxc_process.c virLXCProcessStart"
_QEMU = "src/qemu/qemu_process.c "


class Row:
    """One verified reading: what a non-zero answer to ``driver``/``op`` does in ``releases``.

    ``harms_running``: the answer reaches a guest that is already running (destroyed, or
    dropped from libvirt's management) - the shim's own failures never answer non-zero there.
    """

    __slots__ = ("driver", "op", "releases", "outcome", "harms_running", "effect", "source")

    def __init__(self, driver, op, releases, outcome, harms_running, effect, source):
        self.driver, self.op, self.releases = driver, op, releases
        self.outcome, self.harms_running = outcome, harms_running
        self.effect, self.source = effect, source


ROWS = (
    Row("qemu", "prepare", ALL, "aborted", False, "start refused; stopped and release "
        "follow", _QEMU + "qemuProcessInit"),
    Row("qemu", "start", ALL, "aborted", False, "the new qemu process is stopped before the "
        "guest runs; stopped and release follow", _QEMU + "qemuProcessLaunch"),
    Row("qemu", "started", ALL, "killed", True, "the running guest is destroyed (also on a "
        "migration destination)", _QEMU + "qemuProcessFinishStartup"),
    Row("qemu", "stopped", ALL, "failed_ignored", False, "logged; the guest stops anyway",
        _QEMU + "qemuProcessStop"),
    Row("qemu", "release", ALL, "failed_ignored", False, "logged; resources are released "
        "anyway", _QEMU + "qemuProcessStop"),
    Row("qemu", "migrate", ALL, "aborted", False, "the incoming migration is cancelled",
        "src/qemu/qemu_migration.c qemuMigrationPrepareAny (2.2.0), "
        "qemuMigrationDstPrepareFresh (9.0+)"),
    Row("qemu", "restore", ALL, "aborted", False, "the restore is cancelled",
        "src/qemu/qemu_driver.c qemuDomainRestoreFlags (2.2.0), qemuDomainRestoreInternal "
        "(9.0+), qemuDomainObjRestore"),
    Row("qemu", "reconnect", ALL, "killed", True, "after a daemon restart the running guest "
        "is destroyed", _QEMU + "qemuProcessReconnect"),
    Row("qemu", "attach", OLD, "aborted", False, "the attach is refused (op not called "
        "since 5.5.0)", _QEMU + "qemuProcessAttach"),
    Row("lxc", "prepare", ALL, "aborted", False, "start refused; stopped and release follow"
        + _REBOOT, _LXC_START),
    Row("lxc", "start", ALL, "aborted", False, "start refused before the container runs"
        + _REBOOT, _LXC_START),
    Row("lxc", "started", ALL, "killed", True, "the running container is stopped "
        "(shutoff reason failed)", _LXC_START),
    Row("lxc", "stopped", ALL, "failed_ignored", False, "logged; the container stops anyway",
        "src/lxc/lxc_process.c virLXCProcessCleanup"),
    Row("lxc", "release", ALL, "failed_ignored", False, "logged; resources are released "
        "anyway", "src/lxc/lxc_process.c virLXCProcessCleanup"),
    Row("lxc", "reconnect", ALL, "killed", True, "after a daemon restart the running "
        "container is stopped", "src/lxc/lxc_process.c virLXCProcessReconnectDomain"),
    Row("libxl", "prepare", OLD, "aborted", False, "start refused; stopped and release "
        "follow" + _REBOOT, "src/libxl/libxl_domain.c libxlDomainStart"),
    Row("libxl", "prepare", NEW, "aborted", False, "start refused; no stopped or release "
        "follows" + _REBOOT, "src/libxl/libxl_domain.c libxlDomainStartPrepare"),
    Row("libxl", "start", OLD, "aborted", False, "start refused; stopped and release "
        "follow" + _REBOOT, "src/libxl/libxl_domain.c libxlDomainStart"),
    Row("libxl", "start", NEW, "aborted", False, "start refused; stopped and release "
        "follow" + _REBOOT, "src/libxl/libxl_domain.c libxlDomainStartPerform"),
    Row("libxl", "started", OLD, "aborted", True, "not destroyed: dropped from libvirt's "
        "management (stopped, release, hostdevs handed back) while Xen keeps running it",
        "src/libxl/libxl_domain.c libxlDomainStart"),
    Row("libxl", "started", NEW, "killed", True, "the running domain is destroyed (shutoff "
        "reason failed)", "src/libxl/libxl_domain.c libxlDomainStartPerform"),
    Row("libxl", "stopped", ALL, "failed_ignored", False, "logged; the domain stops anyway",
        "src/libxl/libxl_domain.c libxlDomainCleanup"),
    Row("libxl", "release", ALL, "failed_ignored", False, "logged; resources are released "
        "anyway", "src/libxl/libxl_domain.c libxlDomainCleanup"),
    Row("libxl", "migrate", ALL, "aborted", False, "the incoming migration is cancelled",
        "src/libxl/libxl_migration.c libxlDomainMigrationPrepare (2.2.0), "
        "libxlDomainMigrationPrepareAny (9.0+)"),
    Row("libxl", "reconnect", OLD, "killed", True, "after a daemon restart the running "
        "domain is destroyed", "src/libxl/libxl_driver.c libxlReconnectDomain"),
    Row("libxl", "reconnect", NEW, "aborted", True, "not destroyed: dropped from libvirt's "
        "management (stopped, release, hostdevs handed back, a transient domain forgotten) "
        "while Xen keeps running it", "src/libxl/libxl_driver.c libxlReconnectDomain"),
    Row("bhyve", "prepare", NEW, "aborted", False, "start refused",
        "src/bhyve/bhyve_process.c virBhyveProcessStart"),
    Row("bhyve", "start", NEW, "aborted", False, "the loaded VM is destroyed before it runs; "
        "no stopped or release follows", "src/bhyve/bhyve_process.c virBhyveProcessStartImpl"),
    Row("bhyve", "started", NEW, "killed", True, "the running VM is destroyed; no stopped or "
        "release follows", "src/bhyve/bhyve_process.c virBhyveProcessStartImpl"),
    Row("bhyve", "stopped", NEW, "failed_ignored", False, "ignored",
        "src/bhyve/bhyve_process.c virBhyveProcessStop"),
    Row("bhyve", "release", NEW, "failed_ignored", False, "ignored",
        "src/bhyve/bhyve_process.c virBhyveProcessStop"),
    Row("network", "start", ALL, "aborted", False, "the network is not started",
        "src/network/bridge_driver.c networkStartNetwork"),
    Row("network", "started", ALL, "aborted", False, "the network is torn down again",
        "src/network/bridge_driver.c networkStartNetwork"),
    Row("network", "stopped", ALL, "failed_ignored", False, "ignored",
        "src/network/bridge_driver.c networkShutdownNetwork"),
    Row("network", "updated", ALL, "failed_ignored", False, "runs after the update is "
        "applied and saved: the API call reports an error but nothing is rolled back",
        "src/network/bridge_driver.c networkUpdate"),
    Row("network", "plugged", OLD, "killed", True, "a new interface is refused (guest start "
        "or hotplug fails); during qemu's reconnect the running guest is destroyed - the "
        "hook cannot tell which, so the worse is recorded",
        "src/network/bridge_driver.c networkAllocateActualDevice, networkNotifyActualDevice;"
        " src/qemu/qemu_process.c qemuProcessReconnect"),
    Row("network", "unplugged", OLD, "failed_ignored", False, "ignored",
        "src/network/bridge_driver.c networkReleaseActualDevice"),
    Row("network", "port-created", NEW, "aborted", False, "a new port is refused (guest start "
        "or hotplug fails); a port reclaimed at daemon or network start ignores the failure - "
        "the hook cannot tell which, so the refusal is recorded",
        "src/network/bridge_driver.c networkAllocatePort, networkNotifyPort"),
    Row("network", "port-deleted", NEW, "failed_ignored", False, "ignored",
        "src/network/bridge_driver.c networkReleasePort"),
    Row("daemon", "start", NEW, "failed_ignored", False, "ignored",
        "src/remote/remote_daemon.c main"),
    Row("daemon", "shutdown", NEW, "failed_ignored", False, "ignored",
        "src/remote/remote_daemon.c main"),
    Row("daemon", "reload", NEW, "failed_ignored", False, "ignored",
        "src/remote/remote_daemon.c daemonReloadHandlerThread"),
)
_BY_KEY = {}
for _row in ROWS:
    _BY_KEY.setdefault((_row.driver, _row.op), []).append(_row)
del _row


def parse_version(text):
    """"9.0.0" -> (9, 0, 0); None for None or anything that is not a dotted release."""
    try:
        parts = tuple(int(p) for p in str(text).strip().split("."))
    except ValueError:
        return None
    return (parts + (0, 0))[:3] if text is not None and 0 < len(parts) <= 3 else None


def readings(version):
    """The verified releases whose reading applies to ``version``: itself when verified,
    else the two that bound it (only the nearest one outside the range), all when unknown."""
    v = parse_version(version)
    if v is None:
        return VERIFIED
    known = [(parse_version(r), r) for r in VERIFIED]
    exact = [r for p, r in known if p == v]
    if exact:
        return tuple(exact)
    below = [r for p, r in known if p < v][-1:]
    above = [r for p, r in known if p > v][:1]
    return tuple(below + above)


def rows(driver, op, version=None):
    """The rows for ``driver``/``op`` that apply to ``version`` (empty when unknown)."""
    wanted = readings(version)
    return [r for r in _BY_KEY.get((driver, op), ()) if set(r.releases) & set(wanted)]


def _worst(outcomes):
    return max(outcomes, key=SEVERITY.index) if outcomes else None


def failure_outcome(driver, op, version=None):
    """The outcome of a non-zero answer for ``driver``/``op``; None when the op is unknown."""
    return _worst([r.outcome for r in rows(driver, op, version)])


def derive(driver, op, exit_code, timed_out=False, version=None):
    """ok | aborted | killed | failed_ignored | timed_out for one answered call."""
    if timed_out:
        return "timed_out"
    if exit_code == 0:
        return "ok"
    return failure_outcome(driver, op, version) or UNKNOWN


def effect(driver, op, version=None):
    """What libvirt does after a non-zero answer, in words, with the release(s) and source."""
    found = rows(driver, op, version)
    return " | ".join("libvirt %s: %s (%s)" % ("/".join(r.releases), r.effect, r.source)
                      for r in found)


def is_known(driver, op):
    """True when the table knows what a failure of this op does (in some release)."""
    return (driver, op) in _BY_KEY


def is_filter(driver, op):
    """migrate (libxl, qemu) and restore (qemu) may rewrite the XML on stdout."""
    return (driver, op) in FILTER_OPS


def failure_is_ignored(driver, op, version=None):
    """libvirt carries on whatever the hook answers (cleanup ops, daemon notifications)."""
    return derive(driver, op, 1, version=version) == "failed_ignored"


def harms_running(driver, op, version=None):
    """A non-zero answer destroys, or drops from libvirt's management, a running guest."""
    return any(r.harms_running for r in rows(driver, op, version))


def guard_rail_ops(driver, version=None):
    """Ops of ``driver`` where a non-zero answer harms a guest that is already running.

    The shim's own failures (and the launcher's fallback when the shim cannot load) never
    answer non-zero to these: ``version`` is the host's libvirt release (None: unknown).
    """
    return sorted({r.op for r in ROWS if r.driver == driver
                   and harms_running(driver, r.op, version)})


def ops(driver):
    """Every op ``driver`` has called in a verified release, in table order."""
    return list(dict.fromkeys(r.op for r in ROWS if r.driver == driver))


# A failed start-path call after which libvirt fires no stopped/release (per release); every
# other failed prepare/start/started of a domain driver is followed by them. A failed filter
# cancels before anything was set up: nothing follows either.
_NO_CLEANUP = {("libxl", "prepare"): NEW, ("bhyve", "prepare"): NEW, ("bhyve", "start"): NEW,
               ("bhyve", "started"): NEW}


def cleanup_follows(driver, op, version=None):
    """libvirt fires stopped + release after this start-path call failed (the worse reading
    - cleanup calls that may run - when the release is unknown)."""
    if is_filter(driver, op):
        return False
    silent = _NO_CLEANUP.get((driver, op), ())
    return not set(readings(version)) <= set(silent)

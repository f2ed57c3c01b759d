"""What libvirt runs on this host: its version, monolithic ``libvirtd`` or split daemons,
whether a daemon already sees a hook, and how to make it look again.

Used by ``hookshim install`` only (never on the hook path). Everything it reads goes through
a ``Host`` whose probes tests replace: the binaries on a search path, a /proc root, libvirt's
run directory and systemd's unit directories, and a command runner.

How libvirt itself decides (libvirt 9.0.0 and 11.3.0):

- Each daemon (``libvirtd``, or ``virtqemud``, ``virtxend``, ... built from the same
  ``src/remote/remote_daemon.c``) scans the hooks directory once at start
  (``main`` -> ``virHookInitialize``) and again whenever it calls the ``daemon`` hook with
  ``reload`` (on SIGHUP, ``daemonReloadHandlerThread``) or ``shutdown``
  (``src/util/virhook.c`` ``virHookCall``). Between scans a driver whose bit is unset is
  never called, whatever appears on disk.
- A driver's bit is set when ``hooks/<driver>`` is a regular executable (``stat``: symlinks
  followed, ``virFileIsExecutable``) or, since 6.5.0, ``hooks/<driver>.d`` (opened with
  ``opendir``, so a symlink to a directory counts) holds one (``virHookCheck``).
- Clients pick the split daemon when its socket exists, else libvirtd's
  (``src/remote/remote_sockets.c`` ``remoteGetUNIXSocket``): the same order is used below.
"""

import os
import re
import shutil
import subprocess

SPLIT_DAEMONS = {"qemu": "virtqemud", "libxl": "virtxend", "lxc": "virtlxcd",
                 "network": "virtnetworkd", "bhyve": "virtbhyved"}
MONOLITHIC = "libvirtd"
DAEMON_CHOICES = ("libvirtd", "split")
DOT_D_SINCE = (6, 5, 0)      # virhook.c: <driver>.d directories first run in 6.5.0
_SBIN = "/usr/sbin:/usr/local/sbin:/sbin"
_VERSION = re.compile(r"\(libvirt\)\s+(\d+\.\d+\.\d+)")
_VERSION_ARG = re.compile(r"^\d+\.\d+\.\d+$")


def parse_version(text):
    """(major, minor, micro) from "X.Y.Z"; None for None; ValueError for anything else."""
    if text is None:
        return None
    if not _VERSION_ARG.match(text):
        raise ValueError("libvirt version must look like 9.0.0, got %r" % text)
    return tuple(int(part) for part in text.split("."))


def runs_dot_d(version):
    """True/False when the release is known to run/not run ``<driver>.d``; None: unknown."""
    parsed = parse_version(version)
    return None if parsed is None else parsed >= DOT_D_SINCE


def _run(argv):
    """(exit status, stdout text) of a short probe command."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return proc.returncode, proc.stdout.decode(errors="replace") + \
        proc.stderr.decode(errors="replace")


class Host:
    """The probes: where binaries, processes, sockets and units are, and how to run a
    command. Defaults read the real machine."""

    def __init__(self, path=None, proc_root="/proc", run_dir="/run/libvirt",
                 unit_dirs=("/etc/systemd/system", "/run/systemd/system"),
                 systemd_dir="/run/systemd/system", run=_run, uid=None):
        self.path = path if path is not None else os.environ.get("PATH", "") + ":" + _SBIN
        self.proc_root = proc_root
        self.run_dir = run_dir
        self.unit_dirs = unit_dirs
        self.systemd_dir = systemd_dir   # exists when systemd is PID 1 (sd_booted)
        self.run = run
        self.uid = os.geteuid() if uid is None else uid   # root: the system daemons

    def binary(self, name):
        return shutil.which(name, path=self.path)

    def processes(self):
        """{comm: [(pid, start ticks)]} of the libvirt daemons running now as ``uid``: root's
        are the system daemons; a user's session daemons (same names) are not reloaded."""
        found = {}
        wanted = set(SPLIT_DAEMONS.values()) | {MONOLITHIC}
        for pid in _listdir(self.proc_root):
            if pid.isdigit():
                comm = _read(os.path.join(self.proc_root, pid, "comm")).strip()
                if comm in wanted and self._uid_of(pid) == self.uid:
                    found.setdefault(comm, []).append((int(pid), self._start_ticks(pid)))
        return found

    def _uid_of(self, pid):
        for line in _read(os.path.join(self.proc_root, pid, "status")).splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
        return None

    def _start_ticks(self, pid):
        # field 22 of /proc/PID/stat, after the ")" that ends the command name
        fields = _read(os.path.join(self.proc_root, pid, "stat")).rsplit(")", 1)[-1].split()
        return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None

    def sockets(self):
        """Daemon names by their sockets: libvirt-sock is libvirtd's (or, on split hosts,
        virtproxyd's - which is why a split daemon's socket wins, as in libvirt)."""
        names = {n[:-len("-sock")] for n in _listdir(self.run_dir) if n.endswith("-sock")}
        return {MONOLITHIC if n == "libvirt" else n for n in names}

    def enabled_units(self):
        """Daemon names whose .socket or .service unit is enabled (linked in a *.wants)."""
        names = set()
        for unit_dir in self.unit_dirs:
            for wants in _listdir(unit_dir):
                if wants.endswith(".wants"):
                    names.update(u.rsplit(".", 1)[0] for u in
                                 _listdir(os.path.join(unit_dir, wants)))
        return names

    def boot_time(self):
        """Seconds since the epoch at boot (``btime`` in /proc/stat); None if unknown."""
        for line in _read(os.path.join(self.proc_root, "stat")).splitlines():
            if line.startswith("btime "):
                return int(line.split()[1])
        return None


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _read(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


# -- detection ---------------------------------------------------------------------------------


def _classify(names, split_wins=False):
    """libvirtd | split | None from a set of daemon names seen in one place."""
    split = bool(names & set(SPLIT_DAEMONS.values()))
    mono = MONOLITHIC in names
    if split and (not mono or split_wins):
        return "split"
    return MONOLITHIC if mono and not split else None


def detect_daemon(host):
    """What runs the drivers here, strongest evidence first: running daemons, their
    sockets (split first, as clients choose), enabled units, installed binaries."""
    for names, split_wins in ((set(host.processes()), False), (host.sockets(), True),
                              (host.enabled_units(), False),
                              ({n for n in list(SPLIT_DAEMONS.values()) + [MONOLITHIC]
                                if host.binary(n)}, False)):
        found = _classify(names, split_wins)
        if found:
            return found
    return None


def detect_version(host, daemon=None):
    """"X.Y.Z" from ``<daemon> --version`` (libvirtd, else the split daemons); None."""
    order = [MONOLITHIC] + list(SPLIT_DAEMONS.values())
    if daemon == "split":
        order = order[1:] + order[:1]
    for name in order:
        binary = host.binary(name)
        if binary:
            status, text = host.run([binary, "--version"])
            match = _VERSION.search(text) if status == 0 else None
            if match:
                return match.group(1)
    return None


def daemon_for(driver, mode):
    """The daemon that runs ``driver``'s hook: libvirtd, the split driver daemon, or
    None when the mode is unknown. Every daemon calls the ``daemon`` hook: "*"."""
    if driver == "daemon":
        return "*"
    if mode == "split":
        return SPLIT_DAEMONS.get(driver)
    return MONOLITHIC if mode == MONOLITHIC else None


# -- does a daemon see the hook? ---------------------------------------------------------------


def enabling_entries(hooks_dir, driver, version):
    """The paths that make ``virHookCheck`` set ``driver``'s bit now: an executable main
    hook, and (6.5.0 and later, or unknown) the executables in ``<driver>.d``."""
    main = os.path.join(hooks_dir, driver)
    found = [main] if _executable(main) else []
    if runs_dot_d(version) is not False:
        d_dir = main + ".d"
        found += [p for p in (os.path.join(d_dir, n) for n in _listdir(d_dir)) if _executable(p)]
    return found


def _executable(path):
    """``virFileIsExecutable``: a regular file after following symlinks, any x bit."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return (st.st_mode & 0o170000) == 0o100000 and bool(st.st_mode & 0o111)


def _changed_at(path):
    """Last inode change of the path or what it points to (rename, chmod, write)."""
    return max(os.lstat(path).st_ctime, os.stat(path).st_ctime)


def started_at(host, pid_ticks):
    """Start time (epoch seconds) of a process from its start ticks; None if unknown."""
    btime = host.boot_time()
    if btime is None or pid_ticks is None:
        return None
    return btime + pid_ticks / os.sysconf("SC_CLK_TCK")


def sees_hook(host, hooks_dir, driver, version, daemon):
    """(verdict, reason) for a running ``daemon`` before anything is changed: "yes" it
    calls ``driver``'s hook, "no" it does not, "unsure", or "at-start" (not running: it
    scans when it starts)."""
    entries = enabling_entries(hooks_dir, driver, version)
    dot_d_only = entries and not _executable(os.path.join(hooks_dir, driver))
    if not entries:
        return "no", "there was no executable %s hook for it to find" % driver
    running = host.processes().get(daemon, []) if daemon else []
    if daemon and not running:
        return "at-start", "%s is not running; it scans the hooks when it starts" % daemon
    if not daemon or len(running) != 1:
        return "unsure", "cannot tell which daemon runs the %s hook here" % driver
    if dot_d_only and runs_dot_d(version) is None:
        return "unsure", "libvirt version unknown: %s.d counts only since 6.5.0" % driver
    start = started_at(host, running[0][1])
    if start is not None and any(_changed_at(p) < start for p in entries):
        return "yes", "%s (pid %d) started after %s was in place" % (
            daemon, running[0][0], min(entries, key=_changed_at))
    return "unsure", ("%s (pid %d) started before the hook last changed; it sees it only if "
                      "reloaded since" % (daemon, running[0][0]))


def reload_daemon(host, daemon):
    """Make ``daemon`` rescan the hooks: ``systemctl reload`` (its unit sends SIGHUP to
    MAINPID), else SIGHUP to its one process. Returns (ok, what happened)."""
    running = host.processes().get(daemon, [])
    if not running:
        return True, "%s is not running; it scans the hooks when it starts" % daemon
    if len(running) > 1:
        return False, "%d %s processes run; reload the right one yourself" % (
            len(running), daemon)
    if os.path.isdir(host.systemd_dir):
        status, text = host.run(["systemctl", "reload", daemon + ".service"])
        if status == 0:
            return True, "ran systemctl reload %s.service" % daemon
    pid = running[0][0]
    status, text = host.run(["kill", "-HUP", str(pid)])
    if status == 0:
        return True, "sent SIGHUP to %s (pid %d)" % (daemon, pid)
    return False, "could not reload %s: %s" % (daemon, text.strip()[-200:])


# -- what install and uninstall tell the operator ---------------------------------------------


def report_discovery(seen, host, mode, reload, out):
    """Per driver: does its daemon already call the hook; reload the ones that do not."""
    to_reload = []
    for driver, (daemon, verdict) in seen.items():
        line, needs = _discovery_line(driver, daemon, verdict, mode)
        out(line)
        if needs and daemon not in to_reload:
            to_reload.append(daemon)
    for daemon in to_reload:
        if reload:
            ok, what = reload_daemon(host, daemon)
            out(("reload: %s" if ok else "reload failed: %s") % what)
        else:
            out("run `systemctl reload %s` (or rerun with --reload) so %s rescans the hooks"
                % (daemon, daemon))


def _discovery_line(driver, daemon, verdict, mode):
    """(message, whether ``daemon`` must rescan)."""
    if daemon == "*":
        return ("daemon: every libvirt daemon rescans the hooks right before it calls this "
                "hook for reload or shutdown, and calls it with start when it starts: "
                "nothing to reload", False)
    if daemon is None:
        return ("%s: unknown whether libvirtd or %s runs this driver here: reload the one "
                "that does (or pass --libvirt-daemon)" % (
                    driver, SPLIT_DAEMONS.get(driver, "a split daemon")), False)
    answer, reason = verdict
    text = {"yes": "%s already calls the %s hook (%s): the launcher runs from the next call",
            "at-start": "%s will call the %s hook (%s)",
            "no": "%s does not call a %s hook yet (%s): it must rescan",
            "unsure": "cannot tell whether %s calls the %s hook (%s): rescan to be sure",
            }[answer] % (daemon, driver, reason)
    return "%s: %s" % (driver, text), answer in ("no", "unsure")


def rescan_after_uninstall(daemons, version, host, reload, out):
    out("libvirt %s: a daemon that found a hook fails every later call of it once the file "
        "is gone (before 6.5.0), until it rescans" % (version or "version unknown"))
    for daemon in dict.fromkeys(daemons):
        if daemon and reload:
            ok, what = reload_daemon(host, daemon)
            out(("reload: %s" if ok else "reload failed: %s") % what)
        else:
            out("reload %s now: `systemctl reload %s` (or rerun with --reload)"
                % (daemon or "the daemon that runs these drivers", daemon or "libvirtd"))

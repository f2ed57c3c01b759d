"""A private, real libvirtd (Debian 12's 9.0.0, qemu driver, TCG guests) for end-to-end tests.

libvirt hard-codes its system paths (/etc/libvirt/hooks, /etc/libvirt/qemu.conf, /run/libvirt,
/var/lib/libvirt ...). Rather than editing the host's files, every daemon lives in its own mount
and network namespace: a "holder" process (``unshare --mount --net``) bind-mounts a scratch tree
over those paths (and a copy of /etc/passwd and /etc/group that has the ``libvirt-qemu`` user and
``kvm`` group the qemu driver insists on), creates a bridge for the network tests, and sleeps.
libvirtd is started inside it with ``nsenter`` (under a small child-subreaper, see REAPER) and
stopped by its pid, so it can be restarted (hooks are discovered at start) while guests keep
running. A second daemon may share the first one's network namespace (``share_net_with``) so
qemu can live-migrate between the two "hosts". The host's /etc/libvirt is never
touched; the bridge exists only in the private network namespace. virsh talks to the daemon's
private unix socket (no TCP). Needs root and util-linux ``unshare``/``nsenter``.

Used by tests/e2e/ and bench/virsh_start.py.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBVIRTD = "/usr/sbin/libvirtd"
QEMU = "/usr/bin/qemu-system-x86_64"
BRIDGE = "hkae2ebr0"
# scratch sub-directory -> the system path it replaces inside the namespace
BIND_DIRS = {
    "etc/libvirt": "/etc/libvirt",
    "run/libvirt": "/run/libvirt",
    "var/lib/libvirt": "/var/lib/libvirt",
    "var/cache/libvirt": "/var/cache/libvirt",
    "var/log/libvirt": "/var/log/libvirt",
}

LIBVIRTD_CONF = """\
listen_tls = 0
listen_tcp = 0
unix_sock_dir = "{sock}"
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:{log}"
"""
# Without libvirt-daemon-system: no security driver, no cgroups, no per-guest /dev namespace,
# no virtlogd (stdio_handler file), qemu runs as root.
QEMU_CONF = """\
user = "root"
group = "root"
security_driver = "none"
stdio_handler = "file"
dynamic_ownership = 0
remember_owner = 0
namespaces = [ ]
cgroup_controllers = [ ]
"""


# Run inside the new network namespace: create BRIDGE and bring it and lo up, with the same
# ioctls brctl/ifconfig use, so the tests need no iproute2.
MAKE_BRIDGE = f"""
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fcntl.ioctl(s, 0x89a0, b"{BRIDGE}")  # SIOCBRADDBR
for name in (b"lo", b"{BRIDGE}"):
    ifr = struct.pack("16sH22x", name, 0)
    flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, ifr))[1]  # SIOCGIFFLAGS
    fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", name, flags | 1))  # SIOCSIFFLAGS, IFF_UP
"""


# libvirtd's parent: a child subreaper that prints libvirtd's pid and exits with it. qemu
# daemonizes; its orphan is reparented here and reaped at once. Otherwise it would go to the
# machine's pid 1, and libvirt waits for a zombie a lazy init has not reaped yet (`virsh
# destroy` took 2 s instead of 0.1 s on a container whose init reaps every 2 s).
REAPER = """
import ctypes, os, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.dup2(2, 1)  # stdout is our pipe to the harness: libvirtd gets the log file
    os.execv(sys.argv[1], sys.argv[1:])
print(pid, flush=True)
while True:
    child, status = os.wait()
    if child == pid:
        sys.exit(os.waitstatus_to_exitcode(status) & 255)
"""


class LibvirtUnavailable(Exception):
    """This machine cannot run a private libvirtd (the message says why)."""


def check_prerequisites():
    """Raise LibvirtUnavailable with a clear reason when a private libvirtd cannot run here."""
    if os.geteuid() != 0:
        raise LibvirtUnavailable("real-libvirtd tests need root (namespaces, libvirtd system mode)")
    for tool in (LIBVIRTD, QEMU, "virsh", "unshare", "nsenter"):
        if not shutil.which(tool):
            raise LibvirtUnavailable(
                f"{tool} not found: install libvirt-daemon libvirt-daemon-driver-qemu "
                "libvirt-clients qemu-system-x86 (and util-linux)")
    probe = subprocess.run(["unshare", "--mount", "--net", "true"], check=False,
                           capture_output=True, text=True)
    if probe.returncode != 0:
        raise LibvirtUnavailable(f"cannot create mount/network namespaces: {probe.stderr.strip()}")


def guest_xml(name, network=None, description=None, disk=None):
    """A tiny TCG guest, 32 MiB, no disk unless ``disk`` (a raw image path): SeaBIOS finds
    nothing to boot and idles, and the guest is 'running'."""
    nic = (f"<interface type='network'><source network='{network}'/>"
           "<model type='e1000'/></interface>") if network else ""
    if disk:
        nic += (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                f"<source file='{disk}'/><target dev='hda' bus='ide'/></disk>")
    desc = f"<description>{description}</description>" if description else ""
    return f"""<domain type='qemu'>
  <name>{name}</name>{desc}
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>{QEMU}</emulator>{nic}
    <memballoon model='none'/>
  </devices>
</domain>
"""


def network_xml(name):
    """A network without IP on the namespace's own bridge: no dnsmasq, no firewall rules."""
    return (f"<network><name>{name}</name><forward mode='bridge'/>"
            f"<bridge name='{BRIDGE}'/></network>")


class VirshError(Exception):
    def __init__(self, args, proc):
        super().__init__(f"virsh {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        self.proc = proc


class PrivateLibvirt:
    """One private libvirtd. ``setup()`` once, ``start()``/``stop()`` as often as needed,
    ``close()`` always (kills every process left in the namespace and removes the scratch tree).
    """

    def __init__(self, root=None, share_net_with=None):
        self.root = Path(root or tempfile.mkdtemp(prefix="hkae2e-"))
        # a second daemon in the first one's network namespace: qemu can migrate between them
        self.peer = share_net_with
        self.sock_dir = self.root / "sock"
        self.hooks_dir = self.root / "etc/libvirt/hooks"
        self.uri = f"qemu+unix:///system?socket={self.sock_dir}/libvirt-sock"
        self.log = self.root / "libvirtd.log"
        self.holder = None
        self.daemon = None  # the reaper (see REAPER) whose child is libvirtd
        self.daemon_pid = None

    # -- lifecycle -------------------------------------------------------------------------
    def setup(self):
        """Scratch tree, configs, then the namespace holder (mounts + bridge)."""
        for sub in [*BIND_DIRS, "sock", "etc/libvirt/hooks"]:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.sock_dir.chmod(0o700)
        conf = self.root / "etc/libvirt"
        (conf / "libvirtd.conf").write_text(LIBVIRTD_CONF.format(sock=self.sock_dir, log=self.log))
        (conf / "qemu.conf").write_text(QEMU_CONF)
        for name in ("libvirt.conf", "libvirt-admin.conf"):
            if Path("/etc/libvirt", name).exists():
                shutil.copy(Path("/etc/libvirt", name), conf / name)
        self._write_accounts()
        self._start_holder()
        return self

    def _write_accounts(self):
        passwd, group = Path("/etc/passwd").read_text(), Path("/etc/group").read_text()
        if not any(line.startswith("kvm:") for line in group.splitlines()):
            group += "kvm:x:64056:\n"
        if not any(line.startswith("libvirt-qemu:") for line in group.splitlines()):
            group += "libvirt-qemu:x:64055:\n"
        if not any(line.startswith("libvirt-qemu:") for line in passwd.splitlines()):
            passwd += "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin\n"
        (self.root / "passwd").write_text(passwd)
        (self.root / "group").write_text(group)

    def _start_holder(self):
        for target in BIND_DIRS.values():
            # mount points must exist on the host (empty directories; left in place)
            Path(target).mkdir(parents=True, exist_ok=True)
        binds = [(self.root / src, dst) for src, dst in BIND_DIRS.items()]
        binds += [(self.root / "passwd", "/etc/passwd"), (self.root / "group", "/etc/group")]
        script = "set -e\n" + "".join(f"mount --bind '{s}' '{d}'\n" for s, d in binds)
        if self.peer is None:
            script += f"'{sys.executable}' -c '{MAKE_BRIDGE}'\n"
            unshare = ["unshare", "--mount", "--net"]
        else:
            unshare = ["nsenter", "-t", str(self.peer.holder.pid), "-n", "--", "unshare", "--mount"]
        self.holder = subprocess.Popen(
            [*unshare, "--propagation", "private", "sh", "-c",
             script + "echo ready\nexec sleep 86400\n"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True, text=True)
        if self.holder.stdout.readline().strip() != "ready":
            self.holder.kill()
            err = self.holder.stderr.read()
            raise LibvirtUnavailable(f"namespace setup failed: {err.strip()}")

    def start(self, timeout=60):
        """Start libvirtd in the namespace (hooks must already be in ``hooks_dir``)."""
        assert self.daemon is None, "libvirtd already running"
        with open(self.root / "libvirtd.out", "ab") as out:
            self.daemon = subprocess.Popen(
                ["nsenter", "-t", str(self.holder.pid), "-m", "-n", "-F", "--",
                 sys.executable, "-I", "-S", "-c", REAPER, LIBVIRTD,
                 "-f", "/etc/libvirt/libvirtd.conf", "-p", str(self.root / "libvirtd.pid")],
                cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=out,
                start_new_session=True)
        line = self.daemon.stdout.readline().strip()
        if not line.isdigit():
            self.daemon.wait()
            raise RuntimeError(f"could not start libvirtd: {self._log_tail()}")
        self.daemon_pid = int(line)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise RuntimeError(f"libvirtd exited {self.daemon.returncode}: {self._log_tail()}")
            if (self.sock_dir / "libvirt-sock").exists() and self.virsh("version").returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"libvirtd did not answer within {timeout}s: {self._log_tail()}")

    def stop(self, timeout=30):
        """SIGTERM libvirtd by its pid and wait (guests keep running, as on a real restart)."""
        if self.daemon is None:
            return
        _kill(self.daemon_pid, signal.SIGTERM)
        try:
            self.daemon.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill(self.daemon_pid)
            self.daemon.wait()
        self.daemon.stdout.close()
        self.daemon = None
        (self.sock_dir / "libvirt-sock").unlink(missing_ok=True)

    def reset(self):
        """Back to a stopped daemon and an empty hooks dir, whatever a previous user left."""
        if self.daemon is not None and self.daemon.poll() is None:
            for name in self.domains():
                self.forget(name)
        self.stop()
        for p in self.hooks_dir.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    def restart(self):
        self.stop()
        return self.start()

    def close(self):
        """Destroy guests, stop the daemon, kill whatever is left in the namespace, clean up."""
        if self.daemon is not None and self.daemon.poll() is None:
            for name in self.domains(all_=False):
                self.virsh("destroy", name)
        self.stop()
        if self.holder is not None:
            for pid in self._namespace_pids():
                _kill(pid)
            self.holder.kill()
            self.holder.wait()
            self.holder.stdout.close()
            self.holder.stderr.close()
            self.holder = None
        shutil.rmtree(self.root, ignore_errors=True)

    def _namespace_pids(self):
        """Every process in the holder's mount namespace except the holder (e.g. qemu)."""
        try:
            ns = os.readlink(f"/proc/{self.holder.pid}/ns/mnt")
        except OSError:
            return []
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != self.holder.pid:
                try:
                    if os.readlink(f"/proc/{entry}/ns/mnt") == ns:
                        pids.append(int(entry))
                except OSError:
                    continue
        return pids

    def _log_tail(self, n=2000):
        text = ""
        for f in (self.root / "libvirtd.out", self.log):
            if f.exists():
                text += f.read_text(errors="replace")[-n:]
        return text

    # -- virsh -----------------------------------------------------------------------------
    def virsh(self, *args, timeout=120, input=None):
        """Run virsh against this daemon; returns the CompletedProcess (never raises on exit)."""
        return subprocess.run(["virsh", "-q", "-c", self.uri, *args], check=False,
                              capture_output=True, text=True, timeout=timeout, input=input)

    def ok(self, *args, **kw):
        """virsh that must succeed; returns stdout."""
        proc = self.virsh(*args, **kw)
        if proc.returncode != 0:
            raise VirshError(args, proc)
        return proc.stdout

    def domains(self, all_=True):
        out = self.ok("list", "--name", *(["--all"] if all_ else []))
        return [line.strip() for line in out.splitlines() if line.strip()]

    def define(self, xml):
        path = self.root / "define.xml"
        path.write_text(xml)
        return self.ok("define", str(path))

    def define_network(self, xml):
        path = self.root / "net.xml"
        path.write_text(xml)
        return self.ok("net-define", str(path))

    def qemu_cmdline(self, name):
        """The running guest's qemu command line (argv list), read from /proc."""
        pid = (self.root / f"run/libvirt/qemu/{name}.pid").read_text().strip()
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")

    def state(self, name):
        return self.ok("domstate", name).strip()

    def forget(self, name):
        """Destroy (if running) and undefine a guest; quiet when it is already gone."""
        self.virsh("destroy", name)
        self.virsh("undefine", name)


def wait_for(condition, timeout=30.0, interval=0.1):
    """Poll ``condition`` until it is true (returns True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def _kill(pid, sig=signal.SIGKILL):
    assert pid > 0, "never signal a process group by accident"
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass

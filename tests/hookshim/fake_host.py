"""A fake libvirt host for the installer: binaries on a temp PATH, a fake /proc, libvirt's
run directory, systemd unit links and a command runner that records instead of signalling."""
import os
import time
from pathlib import Path

from hookshim.libvirt_host import Host

CLK_TCK = os.sysconf("SC_CLK_TCK")


class FakeHost(Host):
    def __init__(self, root: Path, uid=0, systemd=True, reload_status=0):
        self.root = root
        for sub in ("bin", "proc", "run", "units", "systemd"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "proc" / "stat").write_text("cpu 1 2 3\nbtime %d\n" % int(time.time() - 3600))
        if not systemd:
            (root / "systemd").rmdir()
        self.commands = []
        self.reload_status = reload_status
        super().__init__(path=str(root / "bin"), proc_root=str(root / "proc"),
                         run_dir=str(root / "run"), unit_dirs=(str(root / "units"),),
                         systemd_dir=str(root / "systemd"), run=self._run, uid=uid)

    def _run(self, argv):
        if argv[1:] == ["--version"]:
            return _real_run(argv)   # the fake binaries really run
        self.commands.append(argv)
        return self.reload_status, "" if self.reload_status == 0 else "Failed to reload"

    def binary_prints(self, name, text, status=0):
        """Put ``name`` on the fake PATH; ``name --version`` prints ``text``."""
        path = self.root / "bin" / name
        path.write_text("#!/bin/sh\necho '%s'\nexit %d\n" % (text, status))
        path.chmod(0o755)

    def daemon(self, name, pid, uid=0, started_ago=60.0):
        """A running process ``name`` owned by ``uid``, started ``started_ago`` seconds ago."""
        d = self.root / "proc" / str(pid)
        d.mkdir()
        (d / "comm").write_text(name + "\n")
        (d / "status").write_text("Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n" % (name, uid, uid, uid, uid))
        btime = int((self.root / "proc" / "stat").read_text().split("btime ")[1])
        ticks = int((time.time() - started_ago - btime) * CLK_TCK)
        rest = ["S"] + ["0"] * 18 + [str(ticks)] + ["0"] * 10
        (d / "stat").write_text("%d (%s) %s\n" % (pid, name, " ".join(rest)))

    def socket(self, name):
        (self.root / "run" / (name + "-sock")).write_text("")

    def enabled_unit(self, unit):
        wants = self.root / "units" / "sockets.target.wants"
        wants.mkdir(exist_ok=True)
        (wants / unit).write_text("")


def _real_run(argv):
    from hookshim.libvirt_host import _run

    return _run(argv)


def no_libvirt(root: Path):
    """A host where nothing about libvirt can be found."""
    return FakeHost(root)

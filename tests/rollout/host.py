"""A simulated host for the rollout tests: a private hooks dir with a legacy hook, a state
dir, a config, and libvirtd's way of calling a hook (argv, XML on stdin, bare environment)."""
import json
import re
import subprocess
from pathlib import Path

from hookshim.event import GENESIS_HASH, verify_event
from hookshim.spool import Spool
from tests.hookshim.helpers import SYSTEM_PYTHON

LEGACY = b"#!/bin/sh\n# the host's own hook, kept byte for byte\nexit 0\n"
HOOK_ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
XML = "<domain type='xen'><name>g1</name><uuid>%s</uuid></domain>" % (
    "6f6a4f2e-6b1f-4c3b-9d4e-2a3b4c5d6e7f")


class Host:
    def __init__(self, root):
        self.root = Path(root)
        self.hooks = self.root / "hooks"
        self.state = self.root / "state"
        self.config = self.root / "etc" / "hookshim.conf"
        self.hooks.mkdir(parents=True)
        (self.hooks / "libxl").write_bytes(LEGACY)
        (self.hooks / "libxl").chmod(0o755)

    def pyz(self, archive, *args, check=True):
        """``python3 -I hookshim.pyz ARGS`` with this host's config; the CompletedProcess."""
        proc = subprocess.run([SYSTEM_PYTHON, "-I", str(archive), "--config", str(self.config),
                               *args], capture_output=True, text=True)
        assert not check or proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def install(self, archive, *extra):
        return self.pyz(archive, "install", "--hooks-dir", str(self.hooks), "--state-dir",
                        str(self.state), "--no-unit", *extra, "libxl")

    def call(self, op="prepare", subop="begin"):
        """One hook call exactly as libvirtd makes it."""
        return subprocess.run([str(self.hooks / "libxl"), "g1", op, subop, "-"], input=XML,
                              capture_output=True, text=True, env=HOOK_ENV, timeout=60)

    def launcher_release(self):
        """The release directory the launcher loads the shim from."""
        return launcher_release((self.hooks / "libxl").read_text())

    def events(self):
        with Spool(str(self.state / "spool.db")) as spool:
            return [ev for _, ev in spool.rows(limit=1_000_000)]

    def active(self):
        return json.loads((self.state / "releases" / "active.json").read_text())


def launcher_release(text):
    """``<version>-<sha>`` of the release a launcher's text names."""
    return re.search(r"/releases/([^/'\"\s]+)", text).group(1)


def assert_gapless_chain(events):
    """seq 1..n, each event's hash chained to the one before."""
    prev = GENESIS_HASH
    for expected, ev in enumerate(events, 1):
        assert ev["seq"] == expected
        assert verify_event(ev, prev) == []
        prev = ev["hash"]

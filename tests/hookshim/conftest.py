"""Fixtures: a shim installed into a temporary hooks dir, called exactly as libvirtd does."""
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from hookshim.install import install
from tests.hookshim.fake_host import FakeHost
from tests.hookshim.helpers import SYSTEM_PYTHON

# What libvirtd gives a hook: LC_ALL=C and PATH, nothing else (libvirt-hooks.md).
HOOK_ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


class Shim:
    """One installed shim: hooks dir, state dir, config, and helpers to drive it."""

    def __init__(self, root: Path):
        self.root = root
        self.hooks_dir = root / "hooks"
        self.state_dir = root / "state"
        self.config = root / "hookshim.conf"
        self.installed = set()

    def install(self, *drivers, **settings):
        lines = []
        install(list(drivers), str(self.hooks_dir), str(self.state_dir), str(self.config),
                python=SYSTEM_PYTHON, out=lines.append,  # this machine's libvirt: not read
                host=FakeHost(self.root / "libvirt-host"))
        self.installed.update(drivers)
        if settings:
            self.set(**settings)
        return lines

    def set(self, **settings):
        with open(self.config, "a") as f:
            for key, value in settings.items():
                f.write("%s = %s\n" % (key, value))

    def adopted_script(self, driver, name, body, mode=0o755):
        """Put a script where install would have moved it (name 'main' or a .d name)."""
        home = self.hooks_dir / (driver + ".hookshim")
        path = home / "main" if name == "main" else home / "d" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(mode)
        return path

    def call(self, driver, obj="guest1", op="prepare", subop="begin", extra="-", stdin=b"",
             timeout=60, args=None):
        """Run the launcher as libvirtd does: argv, stdin, env -i, cwd /, only fds 0-2."""
        argv = [str(self.hooks_dir / driver)] + (
            list(args) if args is not None else [obj, op, subop, extra])
        if isinstance(stdin, str):
            stdin = stdin.encode()
        return subprocess.run(argv, input=stdin, capture_output=True, env=dict(HOOK_ENV),
                              cwd="/", close_fds=True, timeout=timeout)

    @property
    def spool_path(self):
        return self.state_dir / "spool.db"

    def events(self):
        if not self.spool_path.exists():
            return []
        import json

        db = sqlite3.connect(str(self.spool_path))
        try:
            return [json.loads(b) for (b,) in db.execute("SELECT body FROM events ORDER BY seq")]
        finally:
            db.close()

    def last(self):
        events = self.events()
        assert events, "nothing recorded"
        return events[-1]


@pytest.fixture
def shim(tmp_path):
    return Shim(tmp_path)


def mount_tmpfs(path: Path, size="256k"):
    """Mount a small tmpfs at ``path``; False when this machine does not allow it."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                           str(path)], capture_output=True)
    return proc.returncode == 0


def umount(path: Path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def remount(path: Path, mode):
    subprocess.run(["mount", "-o", "remount,%s" % mode, str(path)], check=True)


@pytest.fixture
def tmpfs(tmp_path):
    """A tiny tmpfs (skipped, or failed in CI, when mounting is not possible)."""
    from tests.conftest import skip_or_fail

    path = tmp_path / "tmpfs"
    if os.geteuid() != 0 or not mount_tmpfs(path):
        skip_or_fail("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    yield path
    umount(path)

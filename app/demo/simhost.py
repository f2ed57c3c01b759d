"""One simulated host: its own hooks dir, state dir, config and token, the real shim installed by
``hookshim install``, and a way to call the installed launcher exactly as libvirtd does.

libvirtd runs ``/etc/libvirt/hooks/<driver> <object> <op> <subop> <extra>`` as a child with
cwd ``/``, only fds 0-2, an environment of ``LC_ALL=C`` plus ``PATH`` and friends, the XML on
stdin, and waits for it; stdout matters for the filter ops only, stderr becomes the error text.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app.demo.fleet import Host

# What libvirtd passes down (docs/libvirt-hooks.md): LC_ALL=C and PATH, nothing that points at
# a config file, so the launcher must have its config path baked in.
HOOK_ENV = {"LC_ALL": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

# The pre-existing site hook of the legacy host: a 2019 script that registers guests in an old
# CMDB and crashes (traceback, exit 1) for the guest whose record was never migrated.
LEGACY_SCRIPT = """#!/usr/bin/python3
# Site hook, 2019: register every guest start in the CMDB. Owned by the platform team.
import sys

guest, op = sys.argv[1], sys.argv[2]
if op == "prepare" and "legacy" in guest:
    raise ConnectionRefusedError("cmdb.corp.internal:8443: no CMDB record for " + guest)
sys.exit(0)
"""


@dataclass(frozen=True)
class CallResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    started: float    # time.time() just before the launcher was spawned
    seconds: float    # wall time libvirtd would have waited


class SimHost:
    """The on-disk pieces of one simulated host under ``root``."""

    def __init__(self, host: Host, root: Path, drivers: tuple[str, ...]):
        self.host = host
        self.root = root
        self.drivers = drivers
        self.hooks_dir = root / "hooks"
        self.state_dir = root / "state"
        self.config = root / "hookshim.conf"
        self.token_file = root / "token"

    @property
    def name(self) -> str:
        return self.host.name

    def prepare(self, token: str, server_url: str, settings: dict[str, str]) -> None:
        """Directories, token, config, and the legacy host's pre-existing hook script."""
        for d in (self.hooks_dir, self.state_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.token_file.write_text(token + "\n")
        self.token_file.chmod(0o600)
        set_config_keys(self.config, self.settings(server_url, settings))
        legacy = self.hooks_dir / self.host.driver
        if self.host.legacy_hook and not self.installed():
            legacy.write_text(LEGACY_SCRIPT)
            legacy.chmod(0o755)

    def settings(self, server_url: str, extra: dict[str, str]) -> dict[str, str]:
        """The config keys this host needs (its name is not the machine's hostname)."""
        return {"host": self.name, "state_dir": str(self.state_dir),
                "hooks_dir": str(self.hooks_dir), "server_url": server_url,
                "token_file": str(self.token_file), **extra}

    def installed(self) -> bool:
        return self.config.exists() and all((self.hooks_dir / d).exists() for d in self.drivers)

    def install_argv(self, server_url: str) -> list[str]:
        """``hookshim install`` for this host, run with the interpreter the demo runs on."""
        return [sys.executable, "-m", "hookshim.cli", "install",
                "--hooks-dir", str(self.hooks_dir), "--state-dir", str(self.state_dir),
                "--config", str(self.config), "--server", server_url,
                "--token-file", str(self.token_file), "--no-unit", *self.drivers]

    def call(self, driver: str, obj: str, op: str, subop: str, extra: str, stdin: str) -> CallResult:
        """Run the installed launcher for ``driver`` the way libvirtd does, and wait for it."""
        argv = (str(self.hooks_dir / driver), obj, op, subop, extra)
        t0, m0 = time.time(), time.monotonic()
        # Own session: a Ctrl-C on the demo's terminal must not hit a hook mid-call (libvirtd's
        # hooks never get the operator's terminal signals either); the demo stops after them.
        proc = subprocess.run(argv, input=stdin.encode(), capture_output=True, env=dict(HOOK_ENV),
                              cwd="/", close_fds=True, start_new_session=True, check=False)
        return CallResult(argv, proc.returncode, proc.stdout.decode(errors="replace"),
                          proc.stderr.decode(errors="replace"), t0, time.monotonic() - m0)


def set_config_keys(path: Path, values: dict[str, str]) -> None:
    """Set ``key = value`` lines in a shim config, replacing existing ones, keeping the rest."""
    lines = path.read_text().splitlines() if path.exists() else []
    seen = set()
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in values:
            out.append(f"{key} = {values[key]}")
            seen.add(key)
        else:
            out.append(line)
    out += [f"{k} = {v}" for k, v in values.items() if k not in seen]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(out) + "\n")
    os.replace(tmp, path)

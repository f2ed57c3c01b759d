"""The real product in a private libvirtd: `hookshim install` into its hooks dir, then read back
what the shim recorded in its spool. Used by the e2e tests and bench/virsh_start.py."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOST = "e2e-host"
DRIVERS = ("qemu", "network", "daemon")


def hookshim(*args, check=True):
    """Run the hookshim CLI from this checkout (as an operator would run `hookshim ...`)."""
    proc = subprocess.run([sys.executable, "-m", "hookshim.cli", *args], cwd=REPO, check=False,
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise RuntimeError(f"hookshim {' '.join(args)} failed ({proc.returncode}): "
                           f"{proc.stdout}{proc.stderr}")
    return proc


class Shim:
    """The shim installed for qemu, network and daemon in ``lv``'s hooks dir."""

    def __init__(self, lv, host=HOST):
        self.lv = lv
        self.host = host
        self.state_dir = lv.root / "hookshim-state"
        self.config = lv.root / "hookshim.conf"
        self.bundle = self.state_dir / "policy-bundle.json"
        self._seen = 0

    def write_config(self, **extra):
        lines = {"host": self.host, "state_dir": str(self.state_dir),
                 "hooks_dir": str(self.lv.hooks_dir), **extra}
        self.config.write_text("".join(f"{k} = {v}\n" for k, v in lines.items()))

    def install(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        return hookshim("install", "--hooks-dir", str(self.lv.hooks_dir), "--state-dir",
                        str(self.state_dir), "--config", str(self.config), "--no-unit",
                        *DRIVERS)

    # -- policy ----------------------------------------------------------------------------
    def set_policies(self, policy_dir):
        """Compile the YAML policies in ``policy_dir`` into the bundle the hook reads."""
        from app.policy.compiler import compile_dir, dump_bundle

        bundle, findings = compile_dir(Path(policy_dir))
        if bundle is None:
            raise ValueError("policies do not compile: " + "; ".join(map(str, findings)))
        tmp = self.bundle.with_suffix(".tmp")
        tmp.write_bytes(dump_bundle(bundle))
        tmp.replace(self.bundle)  # atomic: the hook may be reading it right now
        return bundle

    def clear_policies(self):
        self.bundle.unlink(missing_ok=True)

    def install_example_policies(self):
        """The repo's example policy set (policies/), when present; returns a label."""
        examples = REPO / "policies"
        if not examples.is_dir():
            return "no example policies in this checkout"
        bundle = self.set_policies(examples)
        return f"{len(bundle['rules'])} example rules"

    # -- the spool -------------------------------------------------------------------------
    def events(self):
        """Every event in the spool, oldest first."""
        from hookshim.spool import Spool

        spool = Spool(str(self.state_dir / "spool.db"))
        try:
            return sorted(spool.latest(limit=100000), key=lambda e: e["seq"])
        finally:
            spool.close()

    def new_events(self):
        """Events recorded since the previous call."""
        events = [e for e in self.events() if e["seq"] > self._seen]
        if events:
            self._seen = events[-1]["seq"]
        return events

    def skip_to_now(self):
        self.new_events()


def install_shim(lv):
    shim = Shim(lv)
    shim.install()
    return shim


def calls(events):
    """(driver, object, op, subop, extra) of each hook event."""
    return [(e["driver"], e["object"], e["op"], e["subop"], e["extra"])
            for e in events if e["kind"] == "hook"]


def point_at(shim, server):
    """The shim's config names ``server`` and the host's token file."""
    token = shim.lv.root / "host.token"
    token.write_text(server.host_tokens[shim.host] + "\n")
    token.chmod(0o600)
    shim.write_config(server_url=server.url, token_file=str(token))


def forward(shim, server):
    """`hookshim forward --once` against ``server`` with the shim's own config file."""
    point_at(shim, server)
    return hookshim("forward", "--config", str(shim.config), "--once", check=False)


def forwarder_daemon(shim, server):
    """`hookshim forward` running (as its systemd unit runs it) against ``server``; returns
    the process once it listens for hook calls (hookshim/handoff.py). The caller stops it."""
    from hookshim.handoff import SOCKET

    point_at(shim, server)
    proc = subprocess.Popen([sys.executable, "-m", "hookshim.cli", "--config", str(shim.config),
                             "forward", "--timeout", "5", "--max-backoff", "0.5"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sock = shim.state_dir / SOCKET
    for _ in range(1500):
        if sock.exists():
            return proc
        if proc.poll() is not None:
            raise RuntimeError("hookshim forward exited: %s" % proc.stderr.read().decode())
        import time

        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("hookshim forward did not listen")

"""The real stack for the forwarder's fault tests: the real app under uvicorn (a process we
can SIGKILL and restart on the same port), the real hook writing the real spool, and the real
forwarder process (``hookshim forward``)."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.serving import free_port, uvicorn_command  # noqa: F401  (free_port: test_thread)

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def wait_for(predicate, timeout=30.0, what="condition", interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class AppServer:
    """``uvicorn --factory app.main:create_app`` on a fixed port, against ``db_url``."""

    def __init__(self, db_url, log_dir, port=None, env=None):
        self.db_url, self.port = db_url, port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_dir = Path(log_dir)
        self.env = dict(os.environ, HOOKAUDIT_DATABASE_URL=db_url, **(env or {}))
        self.proc = None
        self.starts = 0

    def start(self):
        self.starts += 1
        log = open(self.log_dir / ("uvicorn-%d.log" % self.starts), "wb")
        self.proc = subprocess.Popen(uvicorn_command(self.port), cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.healthy, 30, "the app to answer /healthz")
        return self

    def healthy(self):
        assert self.proc.poll() is None, "uvicorn exited: see %s" % self.log_dir
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def kill(self):
        """SIGKILL: no graceful shutdown, in-flight requests die with the process."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ServerDb:
    """Direct reads of the server's database: what was stored, exactly."""

    def __init__(self, db_url):
        from app.db import normalize_url

        self.engine = create_engine(normalize_url(db_url))

    def create_schema(self):
        from app.models import Base

        Base.metadata.create_all(self.engine)

    def add_host(self, name, rotate=False):
        from sqlalchemy.orm import Session

        from app.services import accounts

        with Session(self.engine) as session, session.begin():
            return accounts.add_host(session, name, rotate=rotate)

    def revoke_host(self, name):
        from sqlalchemy.orm import Session

        from app.services import accounts

        with Session(self.engine) as session, session.begin():
            accounts.revoke_host(session, name)

    def stored(self, host):
        """[(seq, event_id)] stored for ``host``, in seq order (duplicates would show twice)."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT e.seq, e.event_id FROM events e JOIN hosts h ON h.id = e.host_id"
                " WHERE h.name = :h ORDER BY e.seq"), {"h": host})]

    def host_row(self, host):
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT * FROM hosts WHERE name = :h"),
                                {"h": host}).mappings().first()

    def dispose(self):
        self.engine.dispose()


class Host:
    """One simulated host: a config file, a token file, a state dir (spool)."""

    def __init__(self, root, name, server_url, token, **settings):
        self.root, self.name = Path(root), name
        self.state_dir = self.root / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.token_file = self.root / "token"
        self.set_token(token)
        self.config = self.root / "hookshim.conf"
        self.hooks_dir = self.root / "hooks"
        self.hooks_dir.mkdir(exist_ok=True)
        values = {"host": name, "state_dir": self.state_dir, "hooks_dir": self.hooks_dir,
                  "server_url": server_url, "token_file": self.token_file, "interval": "0.1s",
                  "heartbeat_interval": "1s", "bundle_interval": "1s", "batch_size": 50}
        values.update(settings)
        self.config.write_text("".join("%s = %s\n" % kv for kv in values.items()))
        self.forwarders = []

    def set_token(self, token):
        tmp = self.token_file.with_suffix(".tmp")
        tmp.write_text(token + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.token_file)

    # -- the hook --------------------------------------------------------------------------

    def fire(self, n=1, driver="libxl", guest="guest1", op="prepare", subop="begin", xml=None):
        """Run the real hook ``n`` times; returns the exit codes."""
        codes = []
        for _ in range(n):
            codes.append(run_hook(self.config, driver, guest, op, subop, xml).returncode)
        return codes

    # -- the spool ---------------------------------------------------------------------------

    def spool(self):
        from hookshim.spool import Spool

        return Spool(str(self.state_dir / "spool.db"))

    def spooled(self):
        """[(seq, event_id, state)] of every event the host recorded."""
        sp = self.spool()
        try:
            return [(ev["seq"], ev["event_id"], row["state"]) for row, ev in sp.rows(10**7)]
        finally:
            sp.close()

    def stats(self):
        sp = self.spool()
        try:
            return sp.stats()
        finally:
            sp.close()

    # -- the forwarder -----------------------------------------------------------------------

    def start_forwarder(self, *args, timeout=2.0, max_backoff=0.5, lease=4.0):
        log = open(self.root / ("forward-%d.log" % len(self.forwarders)), "wb")
        proc = subprocess.Popen(
            FORWARD_CMD + ["--config", str(self.config),
             "--timeout", str(timeout), "--max-backoff", str(max_backoff), "--lease", str(lease),
             "--refused-backoff", "30", *args],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        self.forwarders.append(proc)
        return proc

    def forward_once(self, timeout=2.0):
        cmd = FORWARD_CMD + ["--config", str(self.config), "--once", "--timeout", str(timeout)]
        return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)

    def drained(self):
        """True when nothing is left to send (every event sent or parked)."""
        return all(state in ("sent", "parked") for _, _, state in self.spooled())

    def stop_forwarders(self):
        for proc in self.forwarders:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def forwarder_log(self):
        logs = sorted(self.root.glob("forward-*.log"))
        return "".join(p.read_text(errors="replace") for p in logs)


FORWARD_CMD = [PYTHON, "-m", "hookshim", "forward"]
# The hook runs under the system interpreter, as libvirtd would run the launcher.
HOOK_CMD = [SYSTEM_PYTHON, "-m", "hookshim"]


def run_hook(config, driver, guest, op, subop, xml=None, extra="-"):
    """The hook exactly as libvirtd runs it: argv, XML on stdin, no environment."""
    xml = xml if xml is not None else default_xml(guest)
    cmd = HOOK_CMD + ["--config", str(config), "run", driver, guest, op, subop, extra]
    return subprocess.run(cmd, input=xml.encode(), capture_output=True, cwd=REPO, timeout=60,
                          env={"PYTHONPATH": str(REPO)})


def default_xml(guest):
    return ("<domain type='xen'><name>%s</name><uuid>6f5c0c0e-1b7e-4f55-9d0a-2d1c3f1e5a01</uuid>"
            "<memory unit='KiB'>1048576</memory></domain>" % guest)


def assert_delivered_exactly_once(host, db, parked=()):
    """Every event the host recorded is stored on the server exactly once, seq gapless
    (except events the server rejected for good, which are parked in the spool)."""
    recorded = host.spooled()
    assert recorded, "the host recorded nothing"
    stored = db.stored(host.name)
    stored_ids = [event_id for _, event_id in stored]
    assert len(stored_ids) == len(set(stored_ids)), "an event is stored twice"
    expected = [(seq, eid) for seq, eid, state in recorded if eid not in parked]
    assert stored == expected, "server store differs from the host's record"
    assert [s for s, _, _ in recorded] == list(range(1, len(recorded) + 1))
    states = {eid: state for _, eid, state in recorded}
    assert {states[eid] for eid in stored_ids} == {"sent"}
    assert all(states[eid] == "parked" for eid in parked)
    return recorded


def dump(obj):
    return json.dumps(obj, indent=1, default=str)

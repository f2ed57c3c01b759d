"""``hookaudit demo``: a server on SQLite and a simulated fleet driving it through the real shim.

Order of things: fresh state dir -> store (schema, admin, hosts + tokens) -> server -> per host
``hookshim install`` (adopting the legacy host's own hook) -> a forwarder thread per host ->
policy bundles pulled -> the opening (libvirtd starts, guests boot) -> a showcase migration -> one host goes offline for ``outage_s`` (long enough to turn "stale"
on the hosts page, then catch up) and another for good (it stays stale, its backlog growing:
a newcomer sees host health at work) -> a brisk history burst -> a steady trickle until
Ctrl-C / SIGTERM / --duration.
Stopping: no new actions, in-flight calls finish, offline hosts come back, spools drain, the
forwarders stop, the server stops last. Nothing is left running.
"""
from __future__ import annotations

import logging
import secrets
import shutil
import subprocess
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from app.demo.corpus import load_templates
from app.demo.driver import Driver
from app.demo.fleet import Fleet, build_fleet
from app.demo.scenario import Action, Scenario
from app.demo.simhost import SimHost, set_config_keys
from app.demo.store import REPO, Credentials, Server, free_port, port_taken, prepare_store, repo_env

MARKER = ".hookaudit-demo"
LOGGERS = ("hookshim", "app.demo")   # to <dir>/demo.log, not the console
log = logging.getLogger("app.demo")
DRIVERS_EXTRA = ("daemon",)  # every host also gets the daemon hook (libvirtd start/stop)


@dataclass
class Options:
    dir: Path = Path("demo-state")
    hosts: int = 10
    guests: int = 60
    port: int = 8000
    bind: str = "127.0.0.1"
    rate: float = 2.0              # hook calls per second in the trickle
    duration: float | None = None  # seconds after the fleet is up; None = until stopped
    seed: int = 1
    burst: int | None = None       # actions in the history burst; default 3 per guest
    workers: int = 4               # hook calls in flight at once (libvirtds are concurrent)
    forward_interval: float = 1.0  # forwarder poll interval (the shim default is 2 s)
    outage: bool = True
    outage_s: float = 180.0        # the outage's length (the demo server says stale after 60 s)
    duplicate_s: float = 90.0      # how long the duplicate-MAC scene's overlap lasts (wall time)
    stale_host: bool = True        # one host goes offline in the trickle and stays so
    policy_dir: Path = REPO / "policies"   # the example policies


class Demo:
    def __init__(self, opts: Options, stop: threading.Event | None = None, out=print):
        self.opts = opts
        self.stop = stop or threading.Event()
        self.out = out
        self.fleet: Fleet = build_fleet(opts.seed, opts.hosts, opts.guests, load_templates())
        self.scenario = Scenario(self.fleet, opts.seed)
        self.sim: dict[str, SimHost] = {}
        self.forwarders: dict[str, object] = {}
        self.server: Server | None = None
        self.creds: Credentials | None = None
        self.driver: Driver | None = None
        self._lock = threading.Lock()
        self.actions_done = 0
        self.on_trickle = None   # called when the steady trickle begins (lag measurement)
        self._outage_end: threading.Timer | None = None
        self._duplicate_end: threading.Timer | None = None
        self._duplicate_rest: list[Action] = []
        self._duplicate_lock = threading.Lock()
        self._duplicate_hold: Action | None = None

    # -- setup -------------------------------------------------------------------------------

    def fresh_dir(self) -> Path:
        """Recreate the state dir; refuse to wipe a non-empty dir that is not ours."""
        d = self.opts.dir.resolve()
        if d.exists() and any(d.iterdir()):
            if not (d / MARKER).exists():
                raise SystemExit(f"{d} exists and is not a demo state dir; choose another --dir")
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        (d / MARKER).write_text("state of `hookaudit demo`; deleted and recreated on every run\n")
        return d

    def setup(self) -> Credentials:
        d = self.fresh_dir()
        self._log_to(d / "demo.log")
        port = self.opts.port or free_port(self.opts.bind)
        if port_taken(self.opts.bind, port):
            raise SystemExit(f"port {port} is in use; pass --port N (or --port 0 for any free one)")
        db_url = f"sqlite:///{d / 'hookaudit.db'}"
        names = [h.name for h in self.fleet.hosts]
        password, admin_token, tokens = prepare_store(db_url, names)
        self.creds = Credentials(f"http://{self.opts.bind}:{port}/", db_url, "admin", password,
                                 admin_token, tokens)
        self.creds.save(d / "demo.json")
        self.server = Server(db_url, self.opts.bind, port, d / "server.log",
                             secrets.token_urlsafe(32), self.opts.policy_dir.resolve(),
                             d / "server.pid")
        self.server.wait_ready()
        self._install_hosts(d)
        self.driver = Driver(self.fleet, self.sim)
        for name in names:
            self.go_online(name)
        self._wait_for_bundles()
        return self.creds

    def _log_to(self, path: Path) -> None:
        """Forwarder chatter (retries while a host is offline...) goes to a file, not the console."""
        self._log_handler = logging.FileHandler(path)
        self._log_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"))
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self._log_handler)
            logger.setLevel(logging.INFO)
            logger.propagate = False

    def _install_hosts(self, d: Path) -> None:
        """``hookshim install`` per host, as an operator would (a few in parallel)."""
        for h in self.fleet.hosts:
            sim = SimHost(h, d / "hosts" / h.name, (h.driver, *DRIVERS_EXTRA))
            sim.prepare(self.creds.host_tokens[h.name], self.server.base, self._shim_settings())
            self.sim[h.name] = sim
        with ThreadPoolExecutor(self.opts.workers) as pool:
            list(pool.map(self._install_one, self.sim.values()))

    def _install_one(self, sim: SimHost) -> None:
        proc = subprocess.run(sim.install_argv(self.server.base), capture_output=True, text=True,
                              env=repo_env(), check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"hookshim install failed for {sim.name}: {proc.stderr.strip()}")
        # The installer may rewrite the config: make sure this host's settings survive it.
        set_config_keys(sim.config, sim.settings(self.server.base, self._shim_settings()))

    def _shim_settings(self) -> dict[str, str]:
        return {"interval": f"{self.opts.forward_interval:g}", "heartbeat_interval": "10"}

    def _wait_for_bundles(self, timeout: float = 20.0) -> None:
        """The policy bundle reaches each host through its forwarder; denials need it there."""
        from hookshim.config import load_config

        paths = [Path(load_config(str(s.config)).policy_bundle) for s in self.sim.values()]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(p.exists() for p in paths):
            time.sleep(0.2)
        missing = [p for p in paths if not p.exists()]
        if missing:
            self.out(f"warning: {len(missing)} hosts have no policy bundle yet; policies not enforced there")

    # -- forwarders (a host "offline" = its forwarder stopped; the shim keeps spooling) ---------

    def go_online(self, host: str) -> None:
        from hookshim.forward_thread import ForwarderThread

        if host not in self.forwarders:
            fwd = ForwarderThread(str(self.sim[host].config), timeout=10.0, max_backoff=2.0)
            fwd.name = f"forwarder-{host}"
            fwd.start()
            self.forwarders[host] = fwd

    def go_offline(self, host: str) -> None:
        fwd = self.forwarders.pop(host, None)
        if fwd is not None:
            fwd.stop(timeout=15)

    # -- running the scenario ----------------------------------------------------------------

    def execute(self, action: Action) -> bool:
        if action.kind == "offline":
            self.out(f"  {action.host} goes offline (forwarder stopped; its shim keeps spooling)")
            self.go_offline(action.host)
        elif action.kind == "online":
            self.out(f"  {action.host} is back online and catches up")
            self.go_online(action.host)
        try:
            ok = self.driver.execute(action, running_on=self._running_on)
        except OSError:
            # A hook that could not even be spawned: keep the fleet going, say so in demo.log.
            log.exception("%s failed", action)
            self.driver.count("errors")
            ok = False
        with self._lock:
            self.scenario.record(action, ok)
            self.actions_done += 1
        return ok

    def _running_on(self, host: str) -> list[str]:
        with self._lock:
            return self.scenario.running_on(host)

    def _submit(self, pool: ThreadPoolExecutor, action: Action) -> Future:
        with self._lock:
            self.scenario.begin(action)
        return pool.submit(self.execute, action)

    def run_all(self, pool: ThreadPoolExecutor, actions: list[Action]) -> None:
        """Run independent actions concurrently and wait for all of them."""
        futures = [self._submit(pool, a) for a in actions]
        for f in futures:
            while not f.done():
                if self.stop.wait(0.1):
                    for g in futures:
                        g.cancel()   # not started yet: libvirtd never got to them
                    break
            if not f.cancelled():
                f.result()

    def run_stream(self, pool: ThreadPoolExecutor, count: int | None, rate: float | None,
                   deadline: float | None) -> None:
        """Draw actions until ``count`` ran, ``deadline`` passed or stop; ``rate`` = calls/s."""
        inflight: set[Future] = set()
        started, n, calls0 = time.monotonic(), 0, self.driver.stats["calls"]
        while not self.stop.is_set() and (count is None or n < count):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if len(inflight) >= self.opts.workers:
                done, inflight = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
                for f in done:
                    f.result()
                continue
            if rate and self.driver.stats["calls"] - calls0 > rate * (time.monotonic() - started):
                self.stop.wait(0.05)
                continue
            with self._lock:
                action = self.scenario.next_action()
            if action is None:
                self.stop.wait(0.1)
                continue
            inflight.add(self._submit(pool, action))
            n += 1
        for f in inflight:
            f.result()

    # -- the whole run -----------------------------------------------------------------------

    def play(self) -> None:
        """Opening, showcase, history burst, then the trickle until stopped or --duration."""
        o = self.opts
        deadline = None if o.duration is None else time.monotonic() + o.duration
        burst = o.burst if o.burst is not None else 3 * o.guests
        opening = self.scenario.opening()
        with ThreadPoolExecutor(o.workers, thread_name_prefix="libvirtd") as pool:
            self.run_all(pool, [a for a in opening if a.kind == "daemon_start"])
            self.run_all(pool, [a for a in opening if a.kind != "daemon_start"])
            self.run_all(pool, self.scenario.showcase())
            self.play_scenes(pool)
            if o.outage and len(self.fleet.hosts) > 1 and burst >= 2:
                self.timed_outage(self.fleet.hosts[0].name, o.outage_s)
            if o.stale_host and len(self.fleet.hosts) > 2:
                host = self._stale_host()
                self.set_offline(host, True)
                self.out(f"  {host} stays offline: stale on the hosts page, its backlog growing")
            self.out(f"history burst: {burst} actions as fast as {o.workers} workers go")
            self.run_stream(pool, burst, None, deadline)
            if not self.stop.is_set() and (deadline is None or time.monotonic() < deadline):
                self.out(f"steady trickle: ~{o.rate:g} hook calls/s (Ctrl-C to stop)")
                if self.on_trickle:
                    self.on_trickle()
                self.run_stream(pool, None, o.rate, deadline)
        self.end_duplicate()    # the run is over before the hold: the conflict ends within it

    def play_scenes(self, pool: ThreadPoolExecutor) -> None:
        """The facts stories (Scenario.scenes), one action after the other."""
        actions, cast = self.scenario.scenes()
        says = {"mac_old": "{mac_new} boots with the MAC {mac_old} had",
                "dup_a": "{dup_b} boots with {dup_a}'s MAC (a duplicate), stops %.0f s later"
                         % self.opts.duplicate_s,
                "memory": "{memory} reboots with twice the memory"}
        for role, text in says.items():
            if role in cast:
                self.out("  scene: " + text.format(**cast))
        for i, a in enumerate(actions):
            if self.stop.is_set():
                return
            if a.kind == "hold":
                self.hold_duplicate(a, actions[i + 1:])
                return
            self.run_all(pool, [a])

    def _stale_host(self) -> str:
        """The host that goes offline for good: the last one, unless it runs a guest of the
        held duplicate (whose end would then only reach the server at the final drain)."""
        hold, names = self._duplicate_hold, [h.name for h in self.fleet.hosts]
        if hold is None:
            return names[-1]
        busy = {self.scenario.where.get(hold.guest), self.scenario.where.get(hold.target)}
        if self.opts.outage:
            busy.add(names[0])                                # the outage host
        spare = [n for n in names if n not in busy]
        return spare[-1] if spare else names[-1]

    def hold_duplicate(self, hold: Action, rest: list[Action]) -> None:
        """Both guests of the duplicate MAC keep running for ``duplicate_s`` seconds (wall
        time: a conflict the next pass already sees ended never shows as ongoing on the
        dashboard), out of the random stream's reach; then ``rest`` (the duplicate's shutdown
        and its own NIC back) runs: at the end of the run at the latest (``end_duplicate``)."""
        with self._lock:
            self.scenario.busy.update({hold.guest, hold.target})
        self._duplicate_rest = rest
        self._duplicate_end = threading.Timer(self.opts.duplicate_s, self.end_duplicate,
                                              kwargs={"hold": hold})
        self._duplicate_end.daemon = True
        self._duplicate_end.start()
        self._duplicate_hold = hold

    def end_duplicate(self, hold: Action | None = None) -> None:
        """The held duplicate's remaining actions, once (timer or end of run), unless stopped."""
        with self._duplicate_lock:
            rest, self._duplicate_rest = self._duplicate_rest, []
            if self._duplicate_end is not None:
                self._duplicate_end.cancel()
            if not rest or self.stop.is_set():
                return
            hold = hold or self._duplicate_hold
            with self._lock:
                self.scenario.busy.discard(hold.target)
            for a in rest:
                with self._lock:
                    self.scenario.begin(a)
                self.execute(a)

    def set_offline(self, host: str, offline: bool) -> None:
        """Stop (or restart) ``host``'s forwarder; its shim keeps spooling meanwhile."""
        with self._lock:
            (self.scenario.offline.add if offline else self.scenario.offline.discard)(host)
        self.go_offline(host) if offline else self.go_online(host)

    def timed_outage(self, host: str, seconds: float) -> None:
        """``host`` offline now and back after ``seconds`` (wall time, not actions: an outage
        the burst gets through in a second could not be seen on the dashboard)."""
        self.out(f"  {host} goes offline for {seconds:.0f} s (forwarder stopped; its shim keeps"
                 " spooling)")
        self.set_offline(host, True)

        def back():
            if not self.stop.is_set():
                self.out(f"  {host} is back online and catches up")
                self.set_offline(host, False)
        self._outage_end = threading.Timer(seconds, back)
        self._outage_end.daemon = True
        self._outage_end.start()

    def drain(self, timeout: float = 60.0) -> int:
        """Bring every host online and wait until all spools are empty; returns what is left."""
        from hookshim.spool import Spool

        for h in self.sim:
            self.go_online(h)
        deadline = time.monotonic() + timeout
        while True:
            left = 0
            for s in self.sim.values():
                if not (s.state_dir / "spool.db").exists():
                    continue
                sp = Spool(str(s.state_dir / "spool.db"))
                try:
                    left += sp.stats()["depth"]
                finally:
                    sp.close()
            if left == 0 or time.monotonic() >= deadline:
                return left
            time.sleep(0.3)

    def shutdown(self) -> None:
        """Forwarders first (they may still be delivering), then the server."""
        if self._outage_end is not None:
            self._outage_end.cancel()
        if self._duplicate_end is not None:
            self._duplicate_end.cancel()
        for h in list(self.forwarders):
            self.go_offline(h)
        if self.server is not None:
            self.server.stop()
            self.server = None
        if getattr(self, "_log_handler", None) is not None:
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None

    def status(self) -> str:
        s = self.driver.stats if self.driver else {}
        offline = ", ".join(sorted(self.scenario.offline)) or "none"
        return (f"{self.actions_done} actions, {s.get('calls', 0)} hook calls"
                f" ({s.get('failed', 0)} refused/failed, {s.get('rewrites', 0)} rewritten,"
                f" {s.get('errors', 0)} not spawned),"
                f" {len(self.scenario.running)} guests running, offline: {offline}")

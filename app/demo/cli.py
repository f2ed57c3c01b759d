"""Command line of ``hookaudit demo`` (registered by ``app.cli`` with ``add_parser``)."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from app.cli.common import setter
from app.demo.runner import Demo, Options
from app.demo.store import REPO

DESCRIPTION = ("Run the server on SQLite with a simulated fleet of libvirt hosts that call the"
               " real installed shim as libvirtd does; prints the dashboard URL and a login."
               " See docs/demo.md.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, default=Path("demo-state"),
                   help="state dir (store, simulated hosts); recreated on every run")
    p.add_argument("--hosts", type=int, default=10, help="simulated hosts (2/3 Xen, 1/3 KVM)")
    p.add_argument("--guests", type=int, default=60, help="simulated guests")
    p.add_argument("--port", type=int, default=8000, help="server port (0: any free port)")
    p.add_argument("--bind", default="127.0.0.1", help="server address")
    p.add_argument("--rate", type=float, default=2.0, help="hook calls per second after the burst")
    p.add_argument("--duration", type=float, default=None,
                   help="stop this many seconds after the fleet is up (default: run until Ctrl-C)")
    p.add_argument("--seed", type=int, default=1, help="seed of the fleet and the scenario")
    p.add_argument("--burst", type=int, default=None,
                   help="actions in the initial history burst (default: 3 per guest)")
    p.add_argument("--workers", type=int, default=4, help="hook calls running at once")
    p.add_argument("--forward-interval", type=float, default=1.0,
                   help="forwarder poll interval, seconds")
    p.add_argument("--no-outage", dest="outage", action="store_false",
                   help="skip the host that goes offline and catches up")
    p.add_argument("--outage-seconds", dest="outage_s", type=float, default=180.0,
                   help="how long that host stays offline (the demo server says stale after 60 s)")
    p.add_argument("--duplicate-seconds", dest="duplicate_s", type=float, default=90.0,
                   help="how long the duplicate-MAC scene's two guests overlap (wall time; "
                   "ended at the end of the run at the latest)")
    p.add_argument("--no-stale-host", dest="stale_host", action="store_false",
                   help="skip the host that goes offline in the trickle and stays stale")
    p.add_argument("--policy-dir", type=Path, default=REPO / "policies",
                   help="policy YAML the server compiles and the hosts enforce (the examples)")
    p.add_argument("--measure-lag", action="store_true",
                   help="measure hook call -> visible in the API lag and print p50/p95"
                        " (without the outage and the stale host)")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("demo", help="run the server with a simulated fleet (SQLite)",
                              description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=main)
    return p


def options(args: argparse.Namespace) -> Options:
    measuring = getattr(args, "measure_lag", False)
    return Options(dir=args.dir, hosts=args.hosts, guests=args.guests, port=args.port,
                   bind=args.bind, rate=args.rate, duration=args.duration, seed=args.seed,
                   burst=args.burst, workers=args.workers,
                   forward_interval=args.forward_interval,
                   # a lag measured over the trickle must not include an outage's backlog
                   outage=args.outage and not measuring, outage_s=args.outage_s,
                   stale_host=args.stale_host and not measuring, duplicate_s=args.duplicate_s,
                   policy_dir=args.policy_dir)


def _on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame):
        if stop.is_set():          # a second Ctrl-C: stop waiting for the drain
            raise KeyboardInterrupt
        print(f"\nstopping ({signal.Signals(signum).name}): finishing hook calls, draining"
              " spools (Ctrl-C again to skip the drain)", flush=True)
        set_stop(signum, _frame)

    set_stop = setter(stop)     # not stop.set() in the handler: app/cli/common.py
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def banner(demo: Demo) -> str:
    c, f = demo.creds, demo.fleet
    xen = sum(h.driver == "libxl" for h in f.hosts)
    return "\n".join([
        (f"hookaudit demo: {len(f.hosts)} hosts ({xen} Xen/libxl, {len(f.hosts) - xen} KVM/qemu),"
         f" {len(f.guests)} guests, state in {demo.opts.dir}"),
        f"  dashboard  {c.url}",
        f"  login      {c.admin_user} / {c.admin_password}",
        f"  API token  {c.admin_token}",
        f"             curl -H 'Authorization: Bearer {c.admin_token}' {c.url}api/v1/events",
        "  Ctrl-C stops everything.",
    ])


def _tick(demo: Demo, stop: threading.Event, every: float = 30.0) -> None:
    while not stop.wait(every):
        print(f"  [{time.strftime('%H:%M:%S')}] {demo.status()}", flush=True)


def _start_probe(demo: Demo):
    from app.demo.lag import LagProbe

    probe = LagProbe(demo.server.base, demo.creds.admin_token)
    probe.start()
    return probe


def main(args: argparse.Namespace) -> int:
    stop = threading.Event()
    _on_signals(stop)
    demo = Demo(options(args), stop, out=lambda s: print(s, flush=True))
    probes = []
    if getattr(args, "measure_lag", False):
        demo.on_trickle = lambda: probes.append(_start_probe(demo))
    try:
        demo.setup()
        print(banner(demo), flush=True)
        ticker = threading.Thread(target=_tick, args=(demo, stop), daemon=True)
        ticker.start()
        demo.play()
        stop.set()
        left = demo.drain()
        calls, failed = demo.driver.stats["calls"], demo.driver.stats["failed"]
        print(f"done: {demo.actions_done} actions, {calls} hook calls ({failed} refused or"
              f" failed); {left} events left unsent", flush=True)
        for probe in probes:
            time.sleep(2 * probe.interval)   # let the probe see the last deliveries
            probe.stop()
            print(probe.report(), flush=True)
            demo.lag = probe.result()
    except KeyboardInterrupt:
        print("interrupted: skipping the drain", flush=True)
    except RuntimeError as exc:   # setup failed: the server or an install; say what, no traceback
        print(f"hookaudit demo: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for probe in probes:
            probe.stop()
        demo.shutdown()
    return 0


if __name__ == "__main__":  # python -m app.demo.cli (works before app.cli registers "demo")
    parser = argparse.ArgumentParser(prog="hookaudit demo", description=DESCRIPTION)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))

"""Fleet lag benchmark: end-to-end lag (hook call -> visible in the API) with hundreds of hosts.

    .venv/bin/python bench/fleet_lag.py [--hosts 200] [--guests 600] [--rate 20]
        [--duration 120] [--baseline-hosts 10] [--json results.json]

Each run is a real `hookaudit demo` (app.demo.runner.Demo): a fresh SQLite store, the server
under uvicorn, every simulated host with `hookshim install`ed launchers called as libvirtd calls
them (a real subprocess per hook call) and its own forwarder thread (interval 1 s). After the
scripted opening (libvirtd start, most guests boot) and no history burst, the fleet runs a
steady `--rate` hook calls/s for `--duration` s while `app.demo.lag.LagProbe` measures, through
`GET /api/v1/events`, `received_at - started_at` of every event and when a 1 s poll first saw
it. The baseline, measured in the same run, is the same rate on a `--baseline-hosts` fleet:
the ratio shows what spreading the same load over many hosts and forwarders costs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.demo.lag import LagProbe
from app.demo.runner import Demo, Options


def measure(hosts: int, guests: int, rate: float, duration: float, workers: int) -> dict:
    """One fleet: setup, opening, then ``duration`` s of trickle under the lag probe."""
    with tempfile.TemporaryDirectory(prefix="fleet-lag-") as tmp:
        opts = Options(dir=Path(tmp) / "state", hosts=hosts, guests=guests, port=0, rate=rate,
                       duration=None, burst=0, workers=workers, outage=False)
        demo = Demo(opts, threading.Event(), out=lambda s: print(f"  [{hosts} hosts] {s}", flush=True))
        probes: list[LagProbe] = []
        demo.on_trickle = lambda: probes.append(_probe(demo, duration))
        t0 = time.monotonic()
        try:
            demo.setup()
            setup_s = time.monotonic() - t0
            demo.play()
            demo.stop.set()
            left = demo.drain()
            time.sleep(2.5)
            probe = probes[0]
            probe.stop()
            result = probe.result()
        finally:
            for p in probes:
                p.stop()
            demo.shutdown()
    achieved = result["received"]["n"] / result["measured_s"] if result["measured_s"] else 0.0
    return {"hosts": hosts, "guests": guests, "rate_calls_per_s": rate,
            "achieved_events_per_s": round(achieved, 1), "loadavg_1m": os.getloadavg()[0],
            "calls": demo.driver.stats["calls"], "setup_s": round(setup_s, 1),
            "left_unsent": left, **result}


def _probe(demo: Demo, duration: float) -> LagProbe:
    probe = LagProbe(demo.server.base, demo.creds.admin_token)
    probe.start()
    timer = threading.Timer(duration, demo.stop.set)   # the trickle runs `duration` s
    timer.daemon = True
    timer.start()
    return probe


def line(r: dict) -> str:
    rec, seen = r["received"], r["seen"]
    return (f"{r['hosts']:>4} hosts, {rec['n']:>6} events in {r['measured_s']:g} s"
            f" ({r['achieved_events_per_s']:g}/s, load {r['loadavg_1m']:.1f}):"
            f" received p50 {rec['p50_s']:.2f} s p95 {rec['p95_s']:.2f} s max {rec['max_s']:.2f} s;"
            f" seen p50 {seen['p50_s']:.2f} s p95 {seen['p95_s']:.2f} s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--guests", type=int, default=600)
    p.add_argument("--rate", type=float, default=20.0, help="hook calls per second, whole fleet")
    p.add_argument("--duration", type=float, default=120.0, help="measured seconds per fleet")
    p.add_argument("--baseline-hosts", type=int, default=10)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--json", type=Path, help="also write the results here")
    a = p.parse_args()
    results = []
    for hosts, guests in ((a.baseline_hosts, max(8, a.guests * a.baseline_hosts // a.hosts)),
                          (a.hosts, a.guests)):
        print(f"fleet of {hosts} hosts, {guests} guests, {a.rate:g} calls/s for {a.duration:g} s",
              flush=True)
        results.append(measure(hosts, guests, a.rate, a.duration, a.workers))
    base, big = results
    print("\n" + "\n".join(line(r) for r in results))
    ratio = big["received"]["p95_s"] / base["received"]["p95_s"]
    verdict = "meets" if big["received"]["p95_s"] < 5 and big["seen"]["p95_s"] < 5 else "MISSES"
    print(f"p95 ratio {a.hosts} hosts / {a.baseline_hosts} hosts (received): {ratio:.2f}x;"
          f" {verdict} the p95 < 5 s target at {a.hosts} hosts")
    if a.json:
        a.json.write_text(json.dumps({"results": results, "p95_ratio": ratio}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

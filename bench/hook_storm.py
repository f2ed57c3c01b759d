"""Hook storms: N concurrent hook calls against N concurrent bare Pythons (not a test: numbers
go in docs/hookshim.md, "Hook storms").

After a host reboot libvirtd autostarts dozens of guests; an evacuation sends dozens of
migrations to one host. Each part below is measured against its floor IN THE SAME RUN,
interleaved round by round, so machine load hits both alike:

    storm N   N concurrent `<hooks>/libxl guest prepare begin -` (the installed launcher,
              the example policies of policies/ compiled into its bundle, the ~8 KB XML of
              bench/hook_latency.py on stdin) vs N concurrent `python3 -I -S` reading the
              same stdin. Reported: wall time of the whole storm (first spawn to last
              exit, median over rounds) and the p99 of the per-call times (spawn to exit,
              all calls of all rounds), with the shim/bare ratios.
    single    one call at a time, same commands (what bench/hook_latency.py measures).
    --fsync   the same storm and single calls while another process writes 4 KiB blocks
              with O_DSYNC to a file on the spool's file system: p99 reported.
    --virsh   a real libvirtd (tests/e2e harness, as bench/virsh_start.py): 8 guests
              `virsh start`ed in parallel, then destroyed, with and without the shim,
              interleaved round by round (needs root and libvirt; slow).

--forwarder says what runs beside the calls (each mode measured in turn, each against its
own floor):

    running   the real forwarder, `python3 -m hookshim forward`, delivering to a stub ingest
              server in this process that acknowledges every event: calls hand their event
              over its socket (hookshim/handoff.py) - how a host runs
    none      no forwarder: every call writes the spool itself (the fallback)
    connection  no forwarder, but a spool connection held open (the old
              --forwarder-connected: what a forwarder without the hand-over did)

After every shim storm the spool is checked: gapless seq, valid chain, one row per call.

    /work/main/.venv/bin/python bench/hook_storm.py --sizes 32,128 --rounds 10 [--fsync]
        [--single 100] [--forwarder running,none] [--virsh 5] [--json]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from forwarder_stub import Forwarder, StubIngest  # noqa: E402
from hook_latency import ENV, PYTHON, domain_xml, install, percentile  # noqa: E402

BARE = [PYTHON, "-I", "-S", "-c", "import sys; sys.stdin.buffer.read()"]


def spawn(argv, data):
    r, w = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, ENV, file_actions=[
        (os.POSIX_SPAWN_DUP2, r, 0), (os.POSIX_SPAWN_DUP2, null, 1),
        (os.POSIX_SPAWN_DUP2, null, 2)])
    os.close(r)
    os.close(null)
    return pid, w, t0


def storm(argv, data, n):
    """(wall ms, [per-call ms]) of n concurrent calls. The 8 KB fits a pipe buffer, so
    writing never blocks; every call gets its stdin as soon as it is spawned."""
    started = {}
    t_first = time.perf_counter()
    for _ in range(n):
        pid, w, t0 = spawn(argv, data)
        os.write(w, data)
        os.close(w)
        started[pid] = t0
    per_call = []
    while started:
        pid, status = os.waitpid(-1, 0)
        t_end = time.perf_counter()
        if pid not in started:
            continue
        if status != 0:
            raise SystemExit("%s failed: wait status %d" % (argv[0], status))
        per_call.append((t_end - started.pop(pid)) * 1000.0)
    return (time.perf_counter() - t_first) * 1000.0, per_call


def spool_check(state_dir, expected):
    """The spool after the storms: gapless seq from 1, valid chain, ``expected`` rows."""
    from hookshim.event import GENESIS_HASH, verify_event
    from hookshim.spool import SPOOL_NAME, Spool

    with Spool(str(Path(state_dir) / SPOOL_NAME)) as sp:
        events = [ev for _, ev in sp.rows(10 ** 7, None)]
    prev = GENESIS_HASH
    for i, ev in enumerate(events, 1):
        if ev["seq"] != i or verify_event(ev, prev):
            raise SystemExit("spool broken at seq %s (expected %d)" % (ev["seq"], i))
        prev = ev["hash"]
    return expected - len(events)   # calls answered but not recorded (busy timeout...)


class DsyncWriter:
    """Another process hammering the file system with O_DSYNC writes (fsync pressure)."""

    CODE = ("import os,sys\nfd=os.open(sys.argv[1],os.O_WRONLY|os.O_CREAT|os.O_DSYNC,0o600)\n"
            "b=b'x'*4096\nwhile True:\n    os.pwrite(fd,b,(os.getpid()*7919) % (1<<20) & ~4095)"
            "\n")

    def __init__(self, directory, procs=1):
        self.path = str(Path(directory) / "dsync.dat")
        self.pids = []
        self.procs = procs

    def __enter__(self):
        for _ in range(self.procs):
            self.pids.append(os.posix_spawn(sys.executable, [sys.executable, "-c", self.CODE,
                                                              self.path], dict(os.environ)))
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        for pid in self.pids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)


def run_storms(commands, data, sizes, rounds, state_dir, calls_so_far):
    """{(name, n): {"walls": [...], "calls": [...]}}, interleaved bare/shim per round."""
    out = {}
    names = list(commands)
    for n in sizes:
        for name in names:
            out[(name, n)] = {"walls": [], "calls": []}
        for r in range(rounds):
            for name in names[r % 2:] + names[:r % 2]:
                wall, calls = storm(commands[name], data, n)
                out[(name, n)]["walls"].append(wall)
                out[(name, n)]["calls"].extend(calls)
                if name == "shim":
                    calls_so_far[0] += n
        lost = spool_check(state_dir, calls_so_far[0])
        for name in names:
            out[(name, n)]["lost"] = lost
        calls_so_far[0] -= lost
    return out


def run_single(commands, data, runs, calls_so_far):
    samples = {name: [] for name in commands}
    names = list(commands)
    for i in range(runs):
        for name in names[i % 2:] + names[:i % 2]:
            samples[name].extend(storm(commands[name], data, 1)[1])
            if name == "shim":
                calls_so_far[0] += 1
    return samples


def storm_rows(results, label):
    rows = []
    for (name, n), res in results.items():
        if name != "shim":
            continue
        bare = results[("bare", n)]
        wall_b, wall_s = statistics.median(bare["walls"]), statistics.median(res["walls"])
        p99_b, p99_s = percentile(bare["calls"], 99), percentile(res["calls"], 99)
        rows.append({"case": label, "n": n, "rounds": len(res["walls"]),
                     "bare_wall_ms": round(wall_b, 1), "shim_wall_ms": round(wall_s, 1),
                     "wall_ratio": round(wall_s / wall_b, 2),
                     "bare_p99_ms": round(p99_b, 1), "shim_p99_ms": round(p99_s, 1),
                     "p99_ratio": round(p99_s / p99_b, 2), "not_recorded": res["lost"]})
        print("  ".join("%s=%s" % kv for kv in rows[-1].items()), file=sys.stderr)
    return rows


def single_row(samples, label):
    b, s = samples["bare"], samples["shim"]
    row = {"case": label, "runs": len(s), "bare_median_ms": round(statistics.median(b), 2),
            "shim_median_ms": round(statistics.median(s), 2),
            "median_ratio": round(statistics.median(s) / statistics.median(b), 2),
            "bare_p99_ms": round(percentile(b, 99), 2), "shim_p99_ms": round(percentile(s, 99), 2)}
    print("  ".join("%s=%s" % kv for kv in row.items()), file=sys.stderr)
    return row


# -- a real libvirtd ------------------------------------------------------------------------

def run_virsh(rounds, guests=8):
    from tests.e2e.harness import PrivateLibvirt, check_prerequisites, guest_xml
    from tests.e2e.shim import install_shim

    check_prerequisites()
    daemons, shims, forwarders = {}, {}, []
    names = ["g%d" % i for i in range(guests)]
    # shim: calls write the spool themselves; shim+fwd: `hookshim forward` runs (delivering
    # to a stub ingest server) and the calls hand their events to it
    times = {"none": [], "shim": [], "shim+fwd": []}
    stub = StubIngest().__enter__()
    try:
        for config in times:
            lv = daemons[config] = PrivateLibvirt().setup()
            if config != "none":
                shims[config] = install_shim(lv)
                shims[config].install_example_policies()
            if config == "shim+fwd":
                forwarders.append(Forwarder(shims[config].config, shims[config].state_dir,
                                            stub.url).__enter__())
            lv.start()
            for g in names:
                lv.define(guest_xml(g, description="storm guest"))

        def parallel(lv, verb):
            errors = []

            def one(g):
                try:
                    lv.ok(verb, g)
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
            threads = [threading.Thread(target=one, args=(g,)) for g in names]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise SystemExit("virsh %s failed: %s" % (verb, errors[0]))
            return (time.perf_counter() - t0) * 1000.0

        order = list(daemons)
        for r in range(rounds + 1):   # round 0 warms up
            for config in order[r % 3:] + order[:r % 3]:
                t = parallel(daemons[config], "start")
                parallel(daemons[config], "destroy")
                if r:
                    times[config].append(t)
        recorded = {c: len([e for e in shims[c].events() if e["driver"] == "qemu"])
                    for c in shims}
        queue = shims["shim+fwd"].state_dir / "spool.queue"
        handed = "all" if not queue.exists() else "not all: some calls wrote directly"
    finally:
        for fwd in forwarders:
            fwd.__exit__(None, None, None)
        stub.__exit__(None, None, None)
        for lv in daemons.values():
            lv.close()
    med = {c: statistics.median(t) for c, t in times.items()}
    return {"case": "virsh start x%d in parallel" % guests, "rounds": rounds,
            "none_median_ms": round(med["none"], 1), "shim_median_ms": round(med["shim"], 1),
            "ratio": round(med["shim"] / med["none"], 3),
            "shim_fwd_median_ms": round(med["shim+fwd"], 1),
            "ratio_fwd": round(med["shim+fwd"] / med["none"], 3),
            "qemu_calls_recorded": recorded, "handed_over": handed}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="32,128")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--single", type=int, default=100, help="single-call runs (0: skip)")
    ap.add_argument("--fsync", action="store_true", help="also under O_DSYNC pressure")
    ap.add_argument("--forwarder", default="running",
                    help="comma-separated modes: running, none, connection (see above)")
    ap.add_argument("--virsh", type=int, default=0, help="rounds of the libvirtd case")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    modes = [m for m in args.forwarder.split(",") if m]
    if set(modes) - {"running", "none", "connection"}:
        raise SystemExit("--forwarder: running, none or connection")
    data = domain_xml()
    rows = []
    from app.policy.compiler import compile_dir, dump_bundle

    with tempfile.TemporaryDirectory(prefix="hook-storm-", dir="/var/tmp") as tmp, \
            StubIngest() as stub:
        root = Path(tmp)
        hook = str(install(root / "a", False))
        bundle, findings = compile_dir(REPO / "policies")
        if bundle is None:
            raise SystemExit("policies/ does not compile: %s" % findings)
        (root / "a" / "state" / "policy-bundle.json").write_bytes(dump_bundle(bundle))
        commands = {"bare": BARE, "shim": [hook, "guest", "prepare", "begin", "-"]}
        calls = [0]
        for _ in range(5):   # warm: spool created, bundle and hot-path caches written
            storm(commands["shim"], data, 1)
            calls[0] += 1
        state = root / "a" / "state"
        for mode in modes:
            with _beside(mode, root / "a", stub.url):
                storm(commands["shim"], data, 1)   # warm this mode's path
                calls[0] += 1
                rows += _measure(args, commands, data, sizes, state, calls, root, mode)
    if args.virsh:
        rows.append(run_virsh(args.virsh))
    meta = {"xml_bytes": len(data), "python": PYTHON, "load_avg": os.getloadavg(),
            "cpus": os.cpu_count(), "forwarder": modes, "spool_events_checked": calls[0]}
    if args.json:
        print(json.dumps({"meta": meta, "results": rows}, indent=1))
        return
    print("xml %d bytes, %s, load avg %.2f %.2f %.2f, %d cpus, forwarder modes %s, "
          "%d spool events checked (gapless, chained)"
          % ((len(data), PYTHON) + meta["load_avg"] + (meta["cpus"], ",".join(modes),
                                                       calls[0])))
    for row in rows:
        print("  ".join("%s=%s" % kv for kv in row.items()))


class _beside:
    """What runs beside the calls in one --forwarder mode."""

    def __init__(self, mode, root, url):
        self.mode, self.root, self.url, self.inner = mode, root, url, None

    def __enter__(self):
        if self.mode == "running":
            self.inner = Forwarder(self.root / "hookshim.conf", self.root / "state",
                                   self.url).__enter__()
        elif self.mode == "connection":
            from hookshim.spool import Spool

            self.inner = Spool(str(self.root / "state" / "spool.db"))
            self.inner.stats()
        return self

    def __exit__(self, *exc):
        if self.mode == "running":
            self.inner.__exit__(*exc)
        elif self.mode == "connection":
            self.inner.close()


def _measure(args, commands, data, sizes, state, calls, root, mode):
    rows = []
    tag = "" if mode == "running" else " (forwarder %s)" % mode
    if args.single:
        rows.append(single_row(run_single(commands, data, args.single, calls), "single" + tag))
    rows += storm_rows(run_storms(commands, data, sizes, args.rounds, state, calls),
                       "storm" + tag)
    if args.fsync:
        with DsyncWriter(root):
            if args.single:
                rows.append(single_row(run_single(commands, data, args.single, calls),
                                       "single+O_DSYNC" + tag))
            rows += storm_rows(run_storms(commands, data, sizes, args.rounds, state, calls),
                               "storm+O_DSYNC" + tag)
    return rows


if __name__ == "__main__":
    os.umask(0o022)
    main()

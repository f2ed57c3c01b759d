"""Wall time of one hook call, as libvirtd pays it (not a test: numbers go in docs/hookshim.md).

Installs the shim into a temporary hooks/state dir, then runs, interleaved in a rotating
order so that load changes hit every command alike:

    floor    /usr/bin/python3 -I -S -c pass           (the interpreter start-up floor)
    sh       sh -c 'cat >/dev/null'                    (a trivial shell hook)
    hook     <hooks>/libxl guest prepare begin -       (the installed launcher, spool
                                                        synchronous=FULL, fsync per call)
    hook+1   the same with one adopted `exit 0` shell script (optional, --with-script)
    hook+fwd the same with `hookshim forward` running (optional, --forwarder-running): the
             call hands its event over the forwarder's socket (hookshim/handoff.py)

each with the same ~8 KB domain XML on stdin (a libxl corpus domain whose <devices> are
repeated to 8 KB), env -i LC_ALL=C PATH=..., cwd /. Reports median/p95/p99 in ms and the
ratio of each median to the floor's; also the median CPU time (user+sys, from wait4),
which a loaded machine distorts much less than wall time.

    .venv/bin/python bench/hook_latency.py --runs 300 [--with-script] [--forwarder-running]
        [--json]
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The XML the recorded numbers used: libvirt's test-suite domain below, from a corpus copy
# named by $HOOKAUDIT_CORPUS; without one, the project's own HVM fixture (same shape).
CORPUS = Path(os.environ.get("HOOKAUDIT_CORPUS", "/nonexistent"))
BASE_XML = "libxl/libxlxml2domconfigdata/vnuma-hvm.xml"
FALLBACK_XML = REPO / "tests" / "fixtures" / "xml" / "libxl" / "hvm-guest.xml"
ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def domain_xml(target=8192):
    """A real corpus domain, its <devices> content repeated until the XML is ~target bytes."""
    source = CORPUS / BASE_XML
    text = (source if source.exists() else FALLBACK_XML).read_text()
    start = text.index("<devices>") + len("<devices>")
    end = text.index("</devices>")
    devices = text[start:end]
    copies = max(1, (target - len(text)) // max(1, len(devices)) + 1)
    return (text[:start] + devices * copies + text[end:]).encode()


def install(root, with_script):
    from hookshim.install import install as do_install

    hooks = root / "hooks"
    do_install(["libxl"], str(hooks), str(root / "state"), str(root / "hookshim.conf"),
               python=PYTHON, out=lambda *_: None)
    if with_script:
        main = hooks / "libxl.hookshim" / "main"
        main.write_text("#!/bin/sh\nexit 0\n")
        main.chmod(0o755)
    return hooks / "libxl"


def run(argv, data):
    """(wall ms, cpu ms) of one call: spawn, 8 KB on a stdin pipe, wait. CPU time (user +
    sys of the child, from wait4) is reported too: it is far less sensitive to load."""
    r, w = os.pipe()
    null = os.open(os.devnull, os.O_WRONLY)
    t0 = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, ENV, file_actions=[
        (os.POSIX_SPAWN_DUP2, r, 0), (os.POSIX_SPAWN_DUP2, null, 1),
        (os.POSIX_SPAWN_DUP2, null, 2)])
    os.close(r)
    try:
        os.write(w, data)   # fits the pipe buffer: never blocks, even if the child never reads
    except BrokenPipeError:
        pass                # it exited without reading (the floor, `pass`): nothing to give
    os.close(w)
    _, status, usage = os.wait4(pid, 0)
    wall = (time.perf_counter() - t0) * 1000.0
    os.close(null)
    if status != 0:
        raise SystemExit("%s failed: wait status %d" % (argv[0], status))
    return wall, (usage.ru_utime + usage.ru_stime) * 1000.0


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def summarise(samples):
    floor = statistics.median(w for w, _ in samples["floor"])
    floor_cpu = statistics.median(c for _, c in samples["floor"])
    rows = {}
    for name, values in samples.items():
        wall = [w for w, _ in values]
        cpu = statistics.median(c for _, c in values)
        median = statistics.median(wall)
        rows[name] = {"runs": len(wall), "median_ms": round(median, 2),
                      "p95_ms": round(percentile(wall, 95), 2),
                      "p99_ms": round(percentile(wall, 99), 2),
                      "median_vs_floor": round(median / floor, 2),
                      "cpu_median_ms": round(cpu, 2),
                      "cpu_vs_floor": round(cpu / floor_cpu, 2)}
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--with-script", action="store_true", help="also time an adopted script")
    ap.add_argument("--forwarder-connected", action="store_true",
                    help="hold a spool connection open during the runs, as the running "
                         "forwarder does (hook calls then skip the close-time checkpoint)")
    ap.add_argument("--forwarder-running", action="store_true",
                    help="also time hook+fwd: a second install whose forwarder runs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    data = domain_xml()
    with tempfile.TemporaryDirectory(prefix="hook-latency-", dir="/var/tmp") as tmp, \
            contextlib.ExitStack() as beside:
        root = Path(tmp)
        commands = {"floor": [PYTHON, "-I", "-S", "-c", "pass"],
                    "sh": ["/bin/sh", "-c", "cat >/dev/null"],
                    "hook": [str(install(root / "a", False)), "guest", "prepare", "begin", "-"]}
        if args.with_script:
            commands["hook+1"] = [str(install(root / "b", True)), "guest", "prepare",
                                  "begin", "-"]
        if args.forwarder_running:
            from forwarder_stub import Forwarder, StubIngest

            commands["hook+fwd"] = [str(install(root / "c", False)), "guest", "prepare",
                                    "begin", "-"]
            stub = beside.enter_context(StubIngest())
            beside.enter_context(Forwarder(root / "c" / "hookshim.conf", root / "c" / "state",
                                           stub.url))
        names = list(commands)
        holders = []
        for _ in range(args.warmup):
            for name in names:
                run(commands[name], data)
        if args.forwarder_connected:
            from hookshim.spool import Spool

            for sub in ("a", "b"):
                if (root / sub / "state" / "spool.db").exists():
                    holders.append(Spool(str(root / sub / "state" / "spool.db")))
                    holders[-1].stats()
        samples = {name: [] for name in names}
        for i in range(args.runs):
            for name in names[i % len(names):] + names[:i % len(names)]:  # rotate the order
                samples[name].append(run(commands[name], data))
        rows = summarise(samples)
        for holder in holders:
            holder.close()
    meta = {"xml_bytes": len(data), "python": PYTHON, "load_avg": os.getloadavg(),
            "cpus": os.cpu_count(), "forwarder_connected": args.forwarder_connected,
            "forwarder_running": args.forwarder_running}
    if args.json:
        print(json.dumps({"meta": meta, "results": rows}, indent=1))
        return
    print("xml %d bytes, %s, load avg %.2f %.2f %.2f, %d cpus, forwarder connected: %s"
          % ((len(data), PYTHON) + meta["load_avg"] + (meta["cpus"],
                                                       args.forwarder_connected)))
    print("%-8s %6s %10s %8s %8s %13s %8s %10s" % (
        "command", "runs", "median ms", "p95 ms", "p99 ms", "median/floor", "cpu ms",
        "cpu/floor"))
    for name, r in rows.items():
        print("%-8s %6d %10.2f %8.2f %8.2f %13.2f %8.2f %10.2f" % (
            name, r["runs"], r["median_ms"], r["p95_ms"], r["p99_ms"], r["median_vs_floor"],
            r["cpu_median_ms"], r["cpu_vs_floor"]))


if __name__ == "__main__":
    main()

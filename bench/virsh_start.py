"""Benchmark: what the hook costs a real `virsh start` (and destroy) on a real libvirtd.

One private libvirtd per configuration runs side by side (tests/e2e/harness.py: each in its own mount and
network namespace), identical except for /etc/libvirt/hooks:

    none   no hook at all
    exit0  `#!/bin/sh\\nexit 0` for qemu, network and daemon
    pypass `#!/usr/bin/python3 -IS` + `pass`: the floor of any hook written in Python
    shim   hookaudit's shim installed by `hookshim install ... qemu network daemon`, with the
           example policy set from policies/ compiled into its bundle (when available)

Each round starts and destroys the same tiny TCG guest once per daemon, in a rotating order, so
all three see the same machine load. Reported: median wall time of `virsh start` and of
`virsh start` + `virsh destroy`, and the ratio to `none` measured in the same run.

    .venv/bin/python bench/virsh_start.py --rounds 30

Needs root and libvirt (see docs/e2e.md).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.harness import PrivateLibvirt, check_prerequisites, guest_xml

GUEST = "bench-g"


def install_exit0(lv):
    for driver in ("qemu", "network", "daemon"):
        hook = lv.hooks_dir / driver
        hook.write_text("#!/bin/sh\nexit 0\n")
        hook.chmod(0o755)
    return "sh: exit 0", None


def install_python_pass(lv):
    for driver in ("qemu", "network", "daemon"):
        hook = lv.hooks_dir / driver
        hook.write_text("#!/usr/bin/python3 -IS\npass\n")
        hook.chmod(0o755)
    return "python3 -IS: pass", None


def install_shim_with_examples(lv):
    from tests.e2e.shim import install_shim

    shim = install_shim(lv)
    note = shim.install_example_policies()
    return f"shim ({note})", shim


def timed(lv, *args):
    t0 = time.perf_counter()
    lv.ok(*args)
    return time.perf_counter() - t0


CONFIGS = {"none": lambda lv: ("no hook", None), "exit0": install_exit0,
           "pypass": install_python_pass, "shim": install_shim_with_examples}


def run(names, rounds, warmup):
    check_prerequisites()
    configs = {name: CONFIGS[name] for name in names}
    daemons, labels, shims = {}, {}, {}
    try:
        for name, install in configs.items():
            lv = daemons[name] = PrivateLibvirt().setup()
            labels[name], shims[name] = install(lv)
            lv.start()
            lv.define(guest_xml(GUEST, description="benchmark guest"))
        starts = {n: [] for n in daemons}
        cycles = {n: [] for n in daemons}
        order = list(daemons)
        for r in range(warmup + rounds):
            k = r % len(order)
            for name in order[k:] + order[:k]:
                t_start = timed(daemons[name], "start", GUEST)
                t_destroy = timed(daemons[name], "destroy", GUEST)
                if r >= warmup:
                    starts[name].append(t_start)
                    cycles[name].append(t_start + t_destroy)
        for name, shim in shims.items():
            if shim is not None:  # proof the shim did its work: 5 recorded calls per round
                hooks = [e for e in shim.events() if e["driver"] == "qemu"]
                per_call = statistics.median(e["duration_ms"] for e in hooks)
                labels[name] += (f", {len(hooks)} qemu calls recorded, "
                                 f"median {per_call:.1f} ms inside the shim")
        return labels, starts, cycles
    finally:
        for lv in daemons.values():
            lv.close()


def report(labels, starts, cycles, rounds):
    base_s, base_c = statistics.median(starts["none"]), statistics.median(cycles["none"])
    print(f"virsh start / destroy of a TCG guest, {rounds} interleaved rounds per configuration")
    print(f"{'config':8} {'start ms':>9} {'ratio':>6} {'start+destroy ms':>17} {'ratio':>6}  hooks")
    for name in starts:
        s, c = statistics.median(starts[name]), statistics.median(cycles[name])
        print(f"{name:8} {s * 1000:9.1f} {s / base_s:6.3f} {c * 1000:17.1f} {c / base_c:6.3f}  "
              f"{labels[name]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--configs", default="none,exit0,pypass,shim",
                    help="comma-separated subset of none,exit0,pypass,shim (none must be included)")
    args = ap.parse_args(argv)
    labels, starts, cycles = run(args.configs.split(","), args.rounds, args.warmup)
    report(labels, starts, cycles, args.rounds)


if __name__ == "__main__":
    main()

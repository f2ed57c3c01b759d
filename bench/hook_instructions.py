"""Instructions one hook call costs, counted by valgrind (not a test: numbers go in docs).

Wall time on a shared machine swings with its load; the number of instructions a process
executes does not (``valgrind --tool=callgrind`` counts them; the same command gives the same
count within ~2 %). So this is the benchmark to compare two versions of the hook path.

Each command runs as libvirtd runs a hook (env -i LC_ALL=C PATH=..., cwd /, the ~8 KB domain
XML of bench/hook_latency.py on stdin), --repeat times; the median count is reported:

    pass       /usr/bin/python3 -I -S -c pass       a Python hook that does nothing (the
                                                     floor bench/virsh_start.py calls pypass)
    exit       the same, leaving with os._exit      (the shim skips interpreter teardown too)
    start      the installed launcher, `libxl guest start begin -`, no policy bundle
    start+p    the same with the example policies (policies/) compiled into its bundle:
               no rule matches start, so the bundle is only loaded
    prepare+p  `prepare` with that bundle: five rules evaluated against the XML
    ... fwd    the same three while a forwarder's hand-over listener runs (its HandoffServer,
               in this process): the call sends its event over spool.sock instead of writing
               the spool (hookshim/handoff.py) - how a host with `hookshim forward` runs

    /work/main/.venv/bin/python bench/hook_instructions.py [--repeat 3] [--json]

Needs valgrind (Debian: valgrind) and the app's policy compiler (the project's virtualenv).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from hook_latency import ENV, PYTHON, domain_xml, install  # noqa: E402

EXIT = "import posix; posix._exit(0)"


def count(argv, data):
    """Instructions of one run of ``argv`` (valgrind's total)."""
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           *argv], input=data, capture_output=True, env=ENV, cwd="/")
    if proc.returncode != 0:
        raise SystemExit("%s failed: %s" % (argv, proc.stderr.decode(errors="replace")[-400:]))
    found = re.search(rb"Collected : (\d+)", proc.stderr) or re.search(
        rb"I\s+refs:\s+([\d,]+)", proc.stderr)
    return int(found.group(1).replace(b",", b""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    from app.policy.compiler import compile_dir, dump_bundle

    data = domain_xml()
    with tempfile.TemporaryDirectory(prefix="hook-instr-", dir="/var/tmp") as tmp:
        root = Path(tmp)
        plain = str(install(root / "a", False))
        with_policy = str(install(root / "b", False))
        bundle, findings = compile_dir(REPO / "policies")
        if bundle is None:
            raise SystemExit("policies/ does not compile: %s" % findings)
        (root / "b" / "state" / "policy-bundle.json").write_bytes(dump_bundle(bundle))
        commands = {
            "pass": [PYTHON, "-I", "-S", "-c", "pass"],
            "exit": [PYTHON, "-I", "-S", "-c", EXIT],
            "start": [plain, "guest", "start", "begin", "-"],
            "start+p": [with_policy, "guest", "start", "begin", "-"],
            "prepare+p": [with_policy, "guest", "prepare", "begin", "-"],
        }
        for argv in commands.values():   # warm: spool created, bundle cache and hot path written
            count(argv, data)
        results = {name: statistics.median(count(argv, data) for _ in range(args.repeat))
                   for name, argv in commands.items()}
        from hookshim.handoff_server import HandoffServer
        from hookshim.spool import Spool

        listeners = []
        for sub in ("a", "b"):
            state = str(root / sub / "state")
            listeners.append(HandoffServer(state, lambda s=state: Spool(s + "/spool.db")))
            listeners[-1].start()
        try:
            for name in ("start", "start+p", "prepare+p"):
                count(commands[name], data)
                results[name + " fwd"] = statistics.median(
                    count(commands[name], data) for _ in range(args.repeat))
        finally:
            for listener in listeners:
                listener.stop()
        if sum(listener.committed for listener in listeners) < 3 * (args.repeat + 1):
            raise SystemExit("calls fell back to the direct write: not measured")
    floor = results["pass"]
    rows = {name: {"instructions": n, "vs_pass": round(n / floor, 3),
                   "beyond_pass_M": round((n - floor) / 1e6, 2)} for name, n in results.items()}
    if args.json:
        print(json.dumps({"python": PYTHON, "xml_bytes": len(data), "results": rows}, indent=1))
        return
    print("%s, %d-byte domain XML on stdin, median of %d valgrind runs"
          % (PYTHON, len(data), args.repeat))
    print("%-14s %14s %9s %16s" % ("command", "instructions", "vs pass", "beyond pass (M)"))
    for name, r in rows.items():
        print("%-14s %14s %9.3f %16.2f" % (name, format(r["instructions"], ","), r["vs_pass"],
                                          r["beyond_pass_M"]))


if __name__ == "__main__":
    os.umask(0o022)
    main()

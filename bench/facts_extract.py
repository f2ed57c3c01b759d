"""Fact extraction cost per event: CPU µs to read the facts of one hook call's XML.

    .venv/bin/python bench/facts_extract.py [--repeat 2000] [--json]

Issue 17 extracts facts at ingest; its budget is ingest throughput with extraction ≥ 0.85×
without it (docs/attribution.md compares the numbers below with bench/ingest_cpu.py's CPU µs
per event). Process CPU time (time.process_time), not wall time: the machine is shared. The
XMLs are the project's own fixtures (tests/fixtures/facts): a live qemu guest with every disk
source type (~7 KB), a libxl PV guest (~1.3 KB), a network port-created hookData; and the
drift of two definitions (normalise both, compare, unified diff), paid once per new boot.
"""
import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.facts import extract_facts  # noqa: E402
from app.facts.drift import definition_drift  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "facts"
CASES = {
    "qemu live domain": ("qemu-live.xml",),
    "libxl PV domain": ("xen-pv.xml",),
    "network port-created": ("network-port-created.xml",),
    "drift prepare->live": ("qemu-prepare.xml", "qemu-live.xml"),
}


def cpu_us(func, args, repeat: int) -> float:
    """Median over 5 rounds of CPU µs per call."""
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(repeat):
            func(*args)
        rounds.append((time.process_time() - start) / repeat * 1e6)
    return sorted(rounds)[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    results = {}
    for label, names in CASES.items():
        texts = [(FIXTURES / n).read_text() for n in names]
        func = definition_drift if len(texts) == 2 else extract_facts
        results[label] = {"bytes": sum(len(t) for t in texts),
                          "cpu_us": round(cpu_us(func, texts, opts.repeat // len(texts)), 1)}
    if opts.json:
        print(json.dumps(results, indent=2))
        return
    for label, r in results.items():
        print("%-22s %6d bytes  %8.1f µs CPU per call" % (label, r["bytes"], r["cpu_us"]))


if __name__ == "__main__":
    main()

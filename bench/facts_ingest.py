"""Ingest throughput with the facts pass vs without it, same run (issue 17: >= 0.85x).

    .venv/bin/python bench/facts_ingest.py [--db sqlite] [--pg URL] [--hosts 4] [--per-host 3000]
        [--batch 500] [--rounds 2]

In-process (the ingest service, no HTTP: the pass competes with ingest for CPU and the
database, which is what the ratio is about). The same chained events (bench/seed_data.py,
corpus XML when present, else the project's tests/fixtures/xml) are stored into fresh
databases, alternately:
- without: ingest only, ``facts_pass.queue_guests`` switched off (the code before issue 17);
- with: ingest (queueing) and, after every batch, a facts pass over what was queued (the
  server's runner does the same behind each batch), timed together.
Prints events/s of both per round, the ratio of the totals, and the CPU time of this
process spent ingesting and in the passes during the "with" runs (steadier than wall time on
a shared machine).
"""
import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.db import Database  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.services import accounts, facts_pass  # noqa: E402
from app.services import ingest as ingest_mod  # noqa: E402
from bench.seed_data import corpus_dir, corpus_xml, host_chain  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MAC_RE = re.compile(r"(<mac address=['\"])([0-9a-fA-F:]{17})")
FILE_RE = re.compile(r"(<source (?:file|dev)=['\"])([^'\"]+)")


def xml_bodies(variants: int) -> list[str]:
    """Corpus (or fixture) domain XML, each in ``variants`` copies with their own MACs and
    disk paths: as in a fleet, guests do not share them (a shared one is a conflict)."""
    path = corpus_dir()
    bases = corpus_xml(path) if path.is_dir() else []
    bases = [b for b in bases or corpus_xml(REPO / "tests" / "fixtures" / "xml")
             if "<domain" in b]
    out = []
    for v in range(variants):
        for b in bases:
            body = MAC_RE.sub(lambda m: "%s52:54:%02x:%02x" % (m.group(1), v >> 8, v & 255)
                              + m.group(2)[-6:], b)
            out.append(FILE_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}.{v}", body))
    return out


def fresh(url_of, name: str) -> Database:
    url = url_of(name)
    upgrade(url)
    return Database(url)


CPU = {"ingest": 0.0, "passes": 0.0}     # process CPU seconds of the "with" runs


def run(db: Database, chains: dict, batch: int, with_facts: bool) -> float:
    ids = {}
    with db.session(write=True) as s:
        for host in chains:
            accounts.add_host(s, host)
        ids = {h.name: h.id for h in s.scalars(accounts.select(accounts.Host))}
    original = ingest_mod.queue_guests
    if not with_facts:
        ingest_mod.queue_guests = lambda *a, **k: None
    try:
        t = time.perf_counter()
        n = max(len(c) for c in chains.values())
        for i in range(0, n, batch):
            c = time.process_time()
            for host, events in chains.items():
                if events[i:i + batch]:
                    ingest_mod.ingest(db, ids[host], events[i:i + batch])
            if with_facts:
                CPU["ingest"] += time.process_time() - c
                c = time.process_time()
                facts_pass.catch_up(db)
                CPU["passes"] += time.process_time() - c
        return time.perf_counter() - t
    finally:
        ingest_mod.queue_guests = original


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", help="PostgreSQL admin URL (databases are created and dropped)")
    ap.add_argument("--hosts", type=int, default=4)
    ap.add_argument("--per-host", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    xmls = xml_bodies(args.hosts * 25)
    chains = {f"dom0-{h:03d}": host_chain(f"dom0-{h:03d}", args.per_host, xmls, seed=h)
              for h in range(args.hosts)}
    total = args.hosts * args.per_host
    if args.pg:
        import psycopg
        base, admin_db = args.pg.rsplit("/", 1)
        made = []

        def url_of(name):
            name = f"{admin_db}_{name}"     # h_facts -> h_facts_bench_facts_with
            with psycopg.connect(args.pg, autocommit=True) as c:
                c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                c.execute(f"CREATE DATABASE {name}")
            made.append(name)
            return f"{base}/{name}"
    else:
        def url_of(name):
            path = Path(f"/tmp/hookaudit-{name}.db")
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                p.unlink(missing_ok=True)
            return f"sqlite:///{path}"
    sums = {False: 0.0, True: 0.0}
    for r in range(args.rounds):
        for with_facts in ((False, True) if r % 2 == 0 else (True, False)):
            name = f"bench_facts_{'with' if with_facts else 'without'}"
            db = fresh(url_of, name)
            secs = run(db, chains, args.batch, with_facts)
            db.dispose()
            sums[with_facts] += secs
            print(f"round {r + 1} {'with facts' if with_facts else 'without   '}: "
                  f"{total / secs:8.0f} events/s")
    print(f"ratio (with / without, {args.rounds} rounds, {total} events, "
          f"{len(set(xmls))} XML bodies): {sums[False] / sums[True]:.2f}")
    print(f"CPU of the 'with' runs: ingest {CPU['ingest']:.2f} s, facts passes "
          f"{CPU['passes']:.2f} s (this process; PostgreSQL's own CPU not included)")
    if args.pg:     # drop what this run made
        with psycopg.connect(args.pg, autocommit=True) as c:
            for name in sorted(set(made)):
                c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()

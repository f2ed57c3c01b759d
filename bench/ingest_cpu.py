"""Ingest CPU per event: the server's Python work for one batch, in-process, no HTTP.

    .venv/bin/python bench/ingest_cpu.py [--pg postgresql://postgres@127.0.0.1:5432/test]
        [--name DBNAME] [--sqlite FILE] [--events 10000] [--batch 500] [--no-freeze]

Wall-clock events/s (bench/ingest.py) swings by ±25 % on a 2-core machine shared with other
work; the CPU time of the ingesting process per event does not depend on what else runs.
Parses, validates and stores batches of realistic chained events (bench/seed_data.py) with
app.services.ingest into a throw-away PostgreSQL database, one thread; prints the process CPU
µs per event (PostgreSQL's own CPU not included) and the wall rate. By default the process
tunes the GC as `create_app`'s lifespan does (freezes its startup objects, raises the
young-generation threshold: app.main._freeze_startup_objects); --no-freeze keeps the defaults.
``--name``: the throw-away database's name (default hookaudit_bench_cpu_<pid>); ``--sqlite``:
a new SQLite file instead of PostgreSQL (deleted afterwards).
"""
import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from app.db import Database, normalize_url
from app.main import _freeze_startup_objects
from app.migrate import upgrade
from app.models import Host
from app.services import accounts
from app.services.ingest import ingest
from app.services.ingest_validate import check_batch, parse_batch
from bench.ingest import drop_db, make_db
from bench.seed_data import corpus_dir, corpus_xml, host_chain


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--events", type=int, default=10000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--no-freeze", action="store_true")
    p.add_argument("--name", default=f"hookaudit_bench_cpu_{os.getpid()}")
    p.add_argument("--sqlite", type=Path, help="a SQLite file to create (not PostgreSQL)")
    args = p.parse_args()
    name = args.name
    if args.sqlite:
        if args.sqlite.exists():
            sys.exit(f"{args.sqlite} exists: give a new file")
        url = f"sqlite:///{args.sqlite}"
    else:
        url = normalize_url(make_db(args.pg, name))
    try:
        upgrade(url)
        db = Database(url)
        with db.session(write=True) as s:
            accounts.add_host(s, "dom0-cpu")
            host_id = s.scalar(select(Host.id).where(Host.name == "dom0-cpu"))
        events = host_chain("dom0-cpu", args.events, corpus_xml(corpus_dir()))
        bodies = [json.dumps({"events": events[i:i + args.batch]}).encode()
                  for i in range(0, len(events), args.batch)]
        del events   # only the bodies stay: the heap looks like a server's
        gc.collect()
        if not args.no_freeze:
            _freeze_startup_objects()
        run(db, host_id, bodies[:2])   # warm-up: connections, statement caches
        cpu, wall = time.process_time(), time.perf_counter()
        run(db, host_id, bodies[2:])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        n = sum(len(json.loads(b)["events"]) for b in bodies[2:])
        print(f"{n} events, batches of {args.batch}, gc freeze: {not args.no_freeze}")
        print(f"python CPU: {1e6 * cpu / n:.1f} µs/event   wall: {n / wall:.0f} events/s")
        db.dispose()
    finally:
        if args.sqlite:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{args.sqlite}{suffix}").unlink(missing_ok=True)
        else:
            drop_db(args.pg, name)


def run(db, host_id: int, bodies: list[bytes]) -> None:
    for body in bodies:
        events = parse_batch(body, 1000)
        ingest(db, host_id, events, check_batch(events, "dom0-cpu"))


if __name__ == "__main__":
    main()

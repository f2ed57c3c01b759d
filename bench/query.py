"""Audit query latency on PostgreSQL at 100k and 1M events (200 hosts, 5,000 guests).

    .venv/bin/python bench/query.py --pg postgresql://postgres@127.0.0.1:5432/test \
        [--sizes 100000,1000000] [--hosts 200] [--guests 5000] [--runs 100]

Creates a throw-away database, migrates it, seeds it (bench/seed_query.py), and for each size
times through the real app (in-process ASGI client, auth, JSON rendering included) --runs
requests of: a guest timeline (random guest), the aborts page, filtered event pages (random
host + op, and outcome + time window), a keyset next page; p50/p95 in ms after warm-up. Then
the time to export 100k events as NDJSON. The database is dropped at the end.
"""
import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from app.config import Settings
from app.db import normalize_url
from app.main import create_app
from app.migrate import upgrade
from app.models import Guest
from app.services import accounts
from bench.seed_query import BASE, STEP_MS, seed_events, seed_fixed


def iso(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def requests_for(n: int, hosts: int, uuids: list[str], rng: random.Random) -> dict:
    """Name -> function returning a URL (random parameters each call)."""
    end = BASE + timedelta(milliseconds=STEP_MS * n)
    host = lambda: f"dom0-{rng.randrange(1, hosts + 1):04d}"
    return {
        "guest timeline": lambda: f"/api/v1/guests/{rng.choice(uuids)}/timeline",
        "aborts page": lambda: "/api/v1/aborts?limit=50",
        "events: host + op page": lambda: f"/api/v1/events?limit=50&host={host()}&op=prepare",
        "events: outcome + last day": lambda: (
            f"/api/v1/events?limit=50&outcome=aborted&outcome=killed"
            f"&since={iso(end - timedelta(days=1))}"),
        "events: guest by name": lambda: f"/api/v1/events?limit=50&guest=vm-{rng.randrange(5000)}",
        "events: newest page": lambda: "/api/v1/events?limit=50",
    }


def measure(client, headers, make_url, runs: int) -> tuple[float, float]:
    times = []
    for i in range(runs + 5):
        url = make_url()
        t0 = time.perf_counter()
        r = client.get(url, headers=headers)
        elapsed = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, (url, r.text[:200])
        if i >= 5:   # warm-up
            times.append(elapsed)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def next_page(client, headers, runs: int) -> tuple[float, float]:
    first = client.get("/api/v1/events?limit=50", headers=headers).json()["next_cursor"]
    return measure(client, headers, lambda: f"/api/v1/events?limit=50&cursor={first}", runs)


def export(client, headers, n: int) -> tuple[float, int, int]:
    since = BASE + timedelta(milliseconds=STEP_MS * (n - 100_000))
    t0 = time.perf_counter()
    rows = size = 0
    with client.stream("GET", f"/api/v1/events?format=ndjson&since={iso(since)}",
                       headers=headers) as r:
        for chunk in r.iter_bytes():
            size += len(chunk)
            rows += chunk.count(b"\n")
    return time.perf_counter() - t0, rows, size


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--guests", type=int, default=5000)
    p.add_argument("--runs", type=int, default=100)
    args = p.parse_args()
    name = f"hookaudit_bench_query_{os.getpid()}"
    with psycopg.connect(args.pg, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    url = normalize_url(args.pg.rsplit("/", 1)[0] + "/" + name)
    try:
        run(url, args)
    finally:
        with psycopg.connect(args.pg, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(url: str, args) -> None:
    upgrade(url)
    engine = create_engine(url)
    blobs = seed_fixed(engine, args.hosts, args.guests)
    app = create_app(Settings(database_url=url))
    with app.state.db.session(write=True) as s:
        accounts.add_user(s, "bench", "viewer", None)
        headers = {"Authorization": f"Bearer {accounts.create_user_token(s, 'bench')}"}
        uuids = list(s.scalars(select(Guest.domain_uuid)))
    rng, seeded, results = random.Random(1), 0, {}
    with TestClient(app) as client:
        for size in (int(x) for x in args.sizes.split(",")):
            took = seed_events(engine, args.hosts, args.guests, blobs, seeded, size)
            seeded = size
            print(f"{size:,} events seeded ({took:.0f} s)")
            for label, make in requests_for(size, args.hosts, uuids, rng).items():
                results[(label, size)] = measure(client, headers, make, args.runs)
            results[("events: keyset next page", size)] = next_page(client, headers, args.runs)
            secs, rows, nbytes = export(client, headers, size)
            print(f"  NDJSON export: {rows:,} rows, {nbytes / 2**20:.1f} MiB in {secs:.2f} s "
                  f"({rows / secs:,.0f} rows/s)")
    sizes = [int(x) for x in args.sizes.split(",")]
    print(f"\n{'query':32}" + "".join(f"{f'{s:,} p50/p95 ms':>24}" for s in sizes))
    for label in dict.fromkeys(k[0] for k in results):
        cells = "".join(f"{results[(label, s)][0]:>12.1f}{results[(label, s)][1]:>12.1f}"
                        for s in sizes)
        print(f"{label:32}{cells}")
    engine.dispose()


if __name__ == "__main__":
    main()

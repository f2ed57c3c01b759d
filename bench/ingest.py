"""Ingest throughput: `hookaudit serve` (uvicorn) + PostgreSQL vs raw psycopg executemany.

    .venv/bin/python bench/ingest.py --pg postgresql://postgres@127.0.0.1:5432/test \
        [--hosts 8] [--per-host 5000] [--batch 500] [--workers 2] [--clients 4]

Builds realistic chained events (corpus XML, see bench/seed_data.py), then in the same run:
1. the app: POST /api/v1/ingest batches of --batch events from --clients threads (each host's
   batches in order, hosts in parallel) to a --workers uvicorn server on a fresh database;
2. the baseline: the exact rows the app stores (app.services.ingest._event_row), inserted by
   psycopg `executemany` in batches of --batch, one transaction per batch, from the same
   number of threads, into another fresh database with the same schema (XML blobs preloaded).
Prints events/s of both and the ratio. Throw-away databases are dropped at the end.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from psycopg.types.json import Json

from app.db import Database, normalize_url
from app.migrate import upgrade
from app.services import accounts
from app.services.ingest import _event_row, prepare
from bench.seed_data import corpus_dir, corpus_xml, host_chain
from hookshim.event import xml_digest

REPO = Path(__file__).resolve().parent.parent


def make_db(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


def drop_db(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_parallel(jobs_per_thread: list[list], fn) -> float:
    """Run each thread's job list in order; all threads at once; returns elapsed seconds."""
    errors = []

    def worker(jobs):
        try:
            for job in jobs:
                fn(job)
        except Exception as exc:  # noqa: BLE001  (re-raised after the run)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(jobs,)) for jobs in jobs_per_thread]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def split(items: list, n: int) -> list[list]:
    return [items[i::n] for i in range(n)]


def bench_app(url: str, chains: dict, args) -> float:
    db = Database(url)
    upgrade(url)
    with db.session(write=True) as s:
        tokens = {h: accounts.add_host(s, h) for h in [*chains, "warmup"]}
    db.dispose()
    port = free_port()
    env = dict(os.environ, HOOKAUDIT_LOG_LEVEL="warning", HOOKAUDIT_POOL_SIZE="8")
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--database-url", url, "serve",
                             "--port", str(port), "--workers", str(args.workers)],
                            cwd=REPO, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base)
        warm = host_chain("warmup", args.batch * args.workers * 2, corpus_xml(corpus_dir()))
        with httpx.Client(timeout=300) as c:
            for i in range(0, len(warm), args.batch):
                _post(c, base, tokens["warmup"], warm[i:i + args.batch])
        # bodies serialized up front: the client's JSON encoding is not what we measure
        per_host = [[(tokens[h], json.dumps({"events": ev[i:i + args.batch]}).encode())
                     for i in range(0, len(ev), args.batch)] for h, ev in chains.items()]
        clients = {}

        def post(job):
            # one client per thread (a setdefault(key, httpx.Client()) here built - and
            # leaked - a new client with a new TLS context for every request)
            c = clients.get(threading.get_ident())
            if c is None:
                c = clients[threading.get_ident()] = httpx.Client(timeout=300)
            r = c.post(base + "/api/v1/ingest", content=job[1], headers={
                "Authorization": f"Bearer {job[0]}", "Content-Type": "application/json"})
            assert r.status_code == 200 and r.json()["duplicates"] == 0, r.text[:300]

        groups = [[b for host in g for b in host] for g in split(per_host, args.clients)]
        try:
            return run_parallel(groups, post)
        finally:
            for c in clients.values():
                c.close()
    finally:
        proc.terminate()
        proc.wait(30)


def _wait(base: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not start")


def _post(c, base, token, events):
    r = c.post(base + "/api/v1/ingest", json={"events": events},
               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text[:300]


def bench_raw(url: str, chains: dict, args) -> float:
    upgrade(url)
    db = Database(url)
    with db.session(write=True) as s:
        for h in chains:
            accounts.add_host(s, h)
    db.dispose()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    now = datetime.now(UTC).replace(tzinfo=None)
    with psycopg.connect(dsn) as conn:
        ids = dict(conn.execute("SELECT name, id FROM hosts").fetchall())
        blobs = {xml_digest(e["xml"]): e["xml"] for ev in chains.values() for e in ev}
        import zlib
        conn.cursor().executemany(
            "INSERT INTO xml_blobs (sha256, size, data, created_at) VALUES (%s, %s, %s, %s)",
            [(k, len(v), zlib.compress(v.encode()), now) for k, v in blobs.items()])
    rows = {h: [_event_row(prepare(e), ids[h], True, now) for e in ev] for h, ev in chains.items()}
    cols = list(next(iter(rows.values()))[0])
    sql = (f"INSERT INTO events ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})")
    json_cols = {"policy", "scripts", "warnings"}
    tuples = {h: [tuple(Json(r[c]) if c in json_cols and r[c] is not None else r[c]
                        for c in cols) for r in rs] for h, rs in rows.items()}
    per_host = [[t[i:i + args.batch] for i in range(0, len(t), args.batch)]
                for t in tuples.values()]
    conns = {}

    def insert(batch):
        # one connection per thread (see post() in bench_app: setdefault opened one per batch)
        conn = conns.get(threading.get_ident())
        if conn is None:
            conn = conns[threading.get_ident()] = psycopg.connect(dsn)
        with conn.transaction():
            conn.cursor().executemany(sql, batch)

    groups = [[b for host in g for b in host] for g in split(per_host, args.clients)]
    elapsed = run_parallel(groups, insert)
    for c in conns.values():
        c.close()
    return elapsed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--hosts", type=int, default=8)
    p.add_argument("--per-host", type=int, default=5000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--clients", type=int, default=4)
    args = p.parse_args()
    xmls = corpus_xml(corpus_dir())
    chains = {f"dom0-{i:03d}": host_chain(f"dom0-{i:03d}", args.per_host, xmls)
              for i in range(args.hosts)}
    total = args.hosts * args.per_host
    size = sum(len(json.dumps(e)) for e in next(iter(chains.values()))) / args.per_host
    print(f"{total} events, {args.hosts} hosts, batches of {args.batch}, "
          f"~{size / 1024:.1f} KiB/event on the wire, {args.workers} uvicorn workers, "
          f"{args.clients} client threads, {os.cpu_count()} CPUs")
    admin = args.pg
    names = [f"hookaudit_bench_app_{os.getpid()}", f"hookaudit_bench_raw_{os.getpid()}"]
    try:
        app_s = bench_app(normalize_url(make_db(admin, names[0])), chains, args)
        raw_s = bench_raw(normalize_url(make_db(admin, names[1])), chains, args)
    finally:
        for n in names:
            drop_db(admin, n)
    print(f"app (HTTP ingest):        {total / app_s:10.0f} events/s  ({app_s:.2f} s)")
    print(f"raw psycopg executemany:  {total / raw_s:10.0f} events/s  ({raw_s:.2f} s)")
    print(f"app / raw:                {raw_s / app_s:10.2f}")


if __name__ == "__main__":
    main()

"""Retention at scale: how fast `hookaudit prune` deletes real chained events, how long each
batch transaction holds its locks, and what ingest latency looks like while it runs
(docs/operations.md).

    .venv/bin/python bench/scale_prune.py [--pg postgresql://postgres@127.0.0.1:5432/test]
        [--sqlite /tmp/prune.db] [--hosts 50] [--per-host 2000] [--batch-size 2000]

Seeds --hosts x --per-host valid chained events (half older than 30 days) through the ingest
service, then prunes at 30 days while another thread keeps ingesting 100-event batches for a
live host. Ingest latency during the prune is reported against the same measurement taken just
before it (ratio), so the machine's speed cancels out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text

from app.db import Database, normalize_url
from app.migrate import upgrade
from app.models import Event, Host
from app.services import accounts, retention
from app.services.ingest import ingest
from hookshim.event import GENESIS_HASH, chain_hash, xml_digest

NOW = datetime.now(UTC)
XML = [
    f"<domain type='xen'><name>g{i}</name><description>{'x' * 2000}{i}</description></domain>"
    for i in range(50)
]


def event(event_id: str, host: str, seq: int, prev: str, when: datetime, i: int) -> dict:
    ev = {
        "v": 1,
        "kind": "hook",
        "event_id": event_id,
        "host": host,
        "seq": seq,
        "prev_hash": prev,
        "hash": "",
        "driver": "libxl",
        "object": f"g{i % 50}",
        "op": ("prepare", "start", "started", "stopped", "release")[seq % 5],
        "subop": "begin",
        "extra": "-",
        "domain_uuid": None,
        "started_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_ms": 1.0,
        "exit_code": 0,
        "outcome": "aborted" if seq % 97 == 0 else "ok",
        "reason": None,
        "stderr": None,
        "xml": XML[i % 50],
        "xml_sha256": xml_digest(XML[i % 50]),
        "xml_truncated": False,
        "output_xml": None,
        "output_xml_sha256": None,
        "redactions": 0,
        "policy": None,
        "scripts": [],
        "warnings": [],
        "dropped": None,
        "shim": {"version": "0.1.0", "hostname": host, "pid": 1},
    }
    ev["hash"] = chain_hash(ev)
    return ev


def unique_id(host_no: int, seq: int) -> str:
    return f"{host_no:08x}-{seq >> 16:04x}-7{seq & 0xFFF:03x}-8000-{seq:012x}"


def seed(db, hosts: int, per_host: int) -> dict:
    ids = {}
    span = timedelta(days=60) / per_host
    for h in range(hosts):
        name = f"dom0-{h:03d}"
        with db.session(write=True) as s:
            accounts.add_host(s, name)
            ids[name] = s.scalar(select(Host.id).where(Host.name == name))
        prev, batch = GENESIS_HASH, []
        for seq in range(1, per_host + 1):
            ev = event(
                unique_id(h, seq), name, seq, prev, NOW - timedelta(days=61) + seq * span, seq + h
            )
            prev = ev["hash"]
            batch.append(ev)
            if len(batch) == 500:
                ingest(db, ids[name], batch)
                batch = []
        if batch:
            ingest(db, ids[name], batch)
    return ids


class LiveIngest(threading.Thread):
    """Keeps ingesting 100-event batches for one host; records each batch's latency."""

    def __init__(self, db, host_id: int, name: str, start_seq: int, prev: str):
        super().__init__(daemon=True)
        self.db, self.host_id, self.name = db, host_id, name
        self.seq, self.prev = start_seq, prev
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            batch = []
            for _ in range(100):
                ev = event(
                    unique_id(99999, self.seq),
                    self.name,
                    self.seq,
                    self.prev,
                    datetime.now(UTC),
                    self.seq,
                )
                self.prev, self.seq = ev["hash"], self.seq + 1
                batch.append(ev)
            t0 = time.perf_counter()
            ingest(self.db, self.host_id, batch)
            self.latencies.append((time.perf_counter() - t0) * 1000)


def live_for(db, live: LiveIngest, seconds: float | None = None, during=None) -> list[float]:
    live.latencies = []
    live.stop.clear()
    thread = LiveIngest(db, live.host_id, live.name, live.seq, live.prev)
    thread.start()
    result = during() if during else time.sleep(seconds)
    thread.stop.set()
    thread.join()
    live.seq, live.prev = thread.seq, thread.prev
    return thread.latencies, result


def stats(ms: list[float]) -> str:
    ms = sorted(ms)
    return (
        f"n={len(ms)} p50={statistics.median(ms):.1f} ms "
        f"p95={ms[min(len(ms) - 1, int(len(ms) * 0.95))]:.1f} ms "
        f"max={ms[-1]:.1f} ms"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--pg", help="admin URL of a PostgreSQL server (scratch db hookaudit_bench_prune)"
    )
    ap.add_argument("--sqlite", help="path of a scratch SQLite file (instead of --pg)")
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--per-host", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=2000)
    args = ap.parse_args(argv)
    if args.sqlite:
        Path(args.sqlite).unlink(missing_ok=True)
        url = f"sqlite:///{args.sqlite}"
    else:
        admin = create_engine(
            normalize_url(args.pg or "postgresql://postgres@127.0.0.1:5432/test"),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as c:
            c.execute(text("DROP DATABASE IF EXISTS hookaudit_bench_prune WITH (FORCE)"))
            c.execute(text("CREATE DATABASE hookaudit_bench_prune"))
        url = str(admin.url.set(database="hookaudit_bench_prune").render_as_string(False))
    upgrade(url)
    db = Database(url)
    t0 = time.perf_counter()
    seed(db, args.hosts, args.per_host)
    print(
        f"seeded {args.hosts * args.per_host:,} events in {time.perf_counter() - t0:.0f} s "
        f"({db.engine.dialect.name})"
    )
    with db.session(write=True) as s:
        accounts.add_host(s, "live")
        live_id = s.scalar(select(Host.id).where(Host.name == "live"))
    live = LiveIngest(db, live_id, "live", 1, GENESIS_HASH)
    before, _ = live_for(db, live, seconds=10)
    print(f"ingest of 100-event batches, alone:        {stats(before)}")

    batch_ms: list[float] = []
    real_batch = retention._prune_batch

    def timed_batch(*a, **kw):
        t = time.perf_counter()
        try:
            return real_batch(*a, **kw)
        finally:
            batch_ms.append((time.perf_counter() - t) * 1000)

    retention._prune_batch = timed_batch
    settings = type(
        "S", (), {"retention_days": 30, "retention_abort_days": 30, "secret_key": "bench"}
    )()
    plan = retention.plan_from_settings(settings, batch_size=args.batch_size)
    t0 = time.perf_counter()
    during, run = live_for(db, live, during=lambda: retention.prune(db, plan, actor="bench"))
    took = time.perf_counter() - t0
    print(
        f"prune: deleted {run['events_deleted']:,} events and {run['xml_deleted']} XML bodies "
        f"in {took:.1f} s = {run['events_deleted'] / took:,.0f} events/s; chain problems "
        f"{run['chain_problems']}"
    )
    print(f"prune batch transactions ({args.batch_size} events): {stats(batch_ms)}")
    print(
        f"ingest of 100-event batches, during prune: {stats(during)}  "
        f"(p50 ratio {statistics.median(during) / statistics.median(before):.2f})"
    )
    with db.session() as s:
        left = s.scalar(select(func.count()).select_from(Event))
    print(f"events left: {left:,}")
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

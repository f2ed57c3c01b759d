"""Attribution and conflict query latency (issue 17) at the size 1M events make.

    .venv/bin/python bench/facts_queries.py [--db sqlite:///tmp/facts-bench.db] [--events 1000000]
        [--guests 5000] [--queries 300]

The facts tables are seeded directly to what the facts pass derives from --events hook calls
(app/services/facts_pass.py): every boot is 5 calls (prepare .. release), so --events / 5
stays, spread over --guests guests, each stay holding 6 facts (MAC, disk, port, memory, vcpus,
IP); one guest in 50 reuses another's MAC at some point (some conflicts). Then, on a migrated
schema (alembic head, the real indexes), it times the service functions the API calls:
``attribution`` (a random MAC at a random time; a random disk over a one-day range) and
``list_conflicts`` (newest page; ongoing only). Prints p50/p95/max per query in ms.
"""
import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text  # noqa: E402

from app.db import Database  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.models import FactConflict, Guest, HeldFact  # noqa: E402
from app.services.attribution import attribution, list_conflicts  # noqa: E402

BASE = datetime(2026, 1, 1)
STEP = timedelta(milliseconds=250)     # one event every 250 ms fleet-wide (bench/seed_query.py)


def mac(g: int) -> str:
    return "52:54:00:%02x:%02x:%02x" % (g >> 16 & 255, g >> 8 & 255, g & 255)


def seed(db: Database, events: int, guests: int) -> None:
    rng = random.Random(17)
    stays = events // 5
    uuid = [f"{g:08x}-0000-4000-8000-{g:012x}" for g in range(guests)]
    with db.session(write=True) as s:
        s.execute(insert(Guest), [{"domain_uuid": u, "name": f"vm-{g}", "driver": "qemu",
                                   "current_host": f"dom0-{g % 200:04d}", "state": "running",
                                   "first_seen_at": BASE, "last_event_at": BASE,
                                   "last_event_id": u, "last_op": "started",
                                   "last_outcome": "ok"} for g, u in enumerate(uuid)])
    rows, conflicts = [], []
    for i in range(stays):
        g = i % guests
        start = BASE + STEP * (i * 5)
        end = start + STEP * (guests * 5 - 1) if i + guests < stays else None
        holder_mac = mac(g if g % 50 or i < stays // 2 else g - 1)   # late reuse: conflicts
        host = f"dom0-{g % 200:04d}"
        ids = [f"e{i}-{k}" for k in range(3)]
        for kind, key, attrs in (
                ("mac", holder_mac, {"scope": "network:default", "network": "default"}),
                ("disk", f"/var/lib/libvirt/images/vm-{g}.qcow2", {"writable": "yes"}),
                ("port", f"{host}:{5900 + g // 200}", {"graphics": "vnc"}),
                ("memory", str(1048576 * (1 + g % 4)), {}), ("vcpus", str(1 + g % 8), {}),
                ("ip", f"10.{g >> 16 & 255}.{g >> 8 & 255}.{g & 255}", {"source": "interface"})):
            rows.append({"kind": kind, "key": key, "domain_uuid": uuid[g], "hosts": [host],
                         "start": start, "end": end, "status": "ended" if end else "running",
                         "attrs": attrs, "event_ids": ids})
        if holder_mac != mac(g):
            conflicts.append({"kind": "mac", "key": holder_mac, "scope": "network:default",
                              "guest_a": uuid[g - 1], "guest_b": uuid[g], "hosts": [host],
                              "start": start, "end": end, "detected_at": start,
                              "ended_at": end})
        if len(rows) >= 60000:
            _flush(db, rows, conflicts)
            rows, conflicts = [], []
    _flush(db, rows, conflicts)


HELD_COPY = ("kind", "key", "domain_uuid", "hosts", "start", "end", "status", "attrs",
             "event_ids")
CONFLICT_COPY = ("kind", "key", "scope", "guest_a", "guest_b", "hosts", "start", "end",
                 "detected_at", "ended_at")


def _flush(db, rows, conflicts) -> None:
    if db.engine.dialect.name == "postgresql":
        _copy(db, rows, conflicts)
        return
    with db.session(write=True) as s:
        if rows:
            s.execute(insert(HeldFact), rows)
        if conflicts:
            s.execute(insert(FactConflict), conflicts)


def _copy(db, rows, conflicts) -> None:
    """PostgreSQL: COPY the rows (several times faster than multi-row INSERTs at 5M events)."""
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, columns, data in (("held_facts", HELD_COPY, rows),
                                     ("fact_conflicts", CONFLICT_COPY, conflicts)):
            if not data:
                continue
            sql = 'COPY %s (%s) FROM STDIN' % (table, ", ".join('"%s"' % c for c in columns))
            with cur.copy(sql) as copy:
                for r in data:
                    copy.write_row([json.dumps(r[c]) if isinstance(r[c], (list, dict)) else r[c]
                                    for c in columns])
        raw.commit()
    finally:
        raw.close()


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"{name:40s} p50 {statistics.median(ms):7.2f} ms  p95 {p95:7.2f} ms  "
          f"max {ms[-1]:7.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite:////tmp/hookaudit-facts-bench.db")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--guests", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    ap.add_argument("--seed-only", action="store_true", help="seed, then stop (no queries)")
    args = ap.parse_args()
    if args.db.startswith("sqlite:///") and not args.reuse:
        Path(args.db.removeprefix("sqlite:///")).unlink(missing_ok=True)
    upgrade(args.db)
    db = Database(args.db)
    if not args.reuse:
        t = time.perf_counter()
        seed(db, args.events, args.guests)
        with db.session(write=True) as s:   # fresh planner statistics, as autovacuum would
            if db.engine.dialect.name == "postgresql":
                s.execute(text("ANALYZE held_facts"))
                s.execute(text("ANALYZE fact_conflicts"))
            else:
                s.execute(text("ANALYZE"))
        print(f"seeded facts of {args.events} events in {time.perf_counter() - t:.0f} s",
              flush=True)
    if args.seed_only:
        return
    span = STEP * args.events
    rng = random.Random(1)

    def at_query():
        with db.session() as s:
            attribution(s, "mac", mac(rng.randrange(args.guests)),
                        at=BASE + span * rng.random())

    def range_query():
        when = BASE + span * rng.random()
        with db.session() as s:
            attribution(s, "disk", f"/var/lib/libvirt/images/vm-{rng.randrange(args.guests)}"
                        ".qcow2", since=when, until=when + timedelta(days=1))

    def port_query():
        g = rng.randrange(args.guests)
        with db.session() as s:
            attribution(s, "port", str(5900 + g // 200), at=BASE + span * rng.random(),
                        host=f"dom0-{g % 200:04d}")

    def conflicts_page():
        with db.session() as s:
            list_conflicts(s, limit=50)

    def conflicts_ongoing():
        with db.session() as s:
            list_conflicts(s, ongoing=True, limit=50)

    for name, fn in (("attribution mac at T", at_query), ("attribution disk 1-day range",
                     range_query), ("attribution port+host at T", port_query),
                     ("conflicts newest 50", conflicts_page),
                     ("conflicts ongoing", conflicts_ongoing)):
        timed(fn, 20)   # warm the cache
        report(name, timed(fn, args.queries))
    db.dispose()


if __name__ == "__main__":
    main()

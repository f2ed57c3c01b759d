"""Query times of the audit API at 1M and 5M events on PostgreSQL (docs/operations.md).

    .venv/bin/python bench/scale.py --pg postgresql://postgres@127.0.0.1:5432/test \
        --sizes 1000000,5000000 [--hosts 1000] [--keep]

Creates a throw-away database, builds the schema with the migrations, seeds events with
INSERT ... SELECT generate_series (1M events/day over --hosts hosts, 20 guests per host,
~2% non-ok outcomes, 1000 distinct XML bodies), then times each API query through the real
app (in-process ASGI client, JSON rendering included): median of 5 after one warm-up, in ms.
Growing the table to the next size and measuring again gives the growth ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

BASE = datetime(2026, 1, 1)
PER_DAY = 1_000_000
GUESTS_PER_HOST = 20

UUID_SQL = (
    "substr(md5({x}),1,8)||'-'||substr(md5({x}),9,4)||'-7'||substr(md5({x}),14,3)"
    "||'-8'||substr(md5({x}),18,3)||'-'||substr(md5({x}),21,12)"
)
GUEST = "((i % :hosts) * 20 + (i / :hosts / 5) % 20)"  # each host runs 20 guests
OUTCOME = (
    "CASE WHEN r < 10 THEN 'aborted' WHEN r < 13 THEN 'killed' WHEN r < 18 THEN "
    "'failed_ignored' WHEN r < 20 THEN 'timed_out' ELSE 'ok' END"
)

SEED_EVENTS = f"""
INSERT INTO events (event_id, host_id, v, kind, seq, prev_hash, hash, driver, object, op, subop,
  extra, domain_uuid, started_at, duration_ms, exit_code, outcome, reason, stderr, xml_blob,
  xml_truncated, redactions, scripts, warnings, shim_version, shim_hostname, shim_pid, canonical,
  chain_ok, received_at)
SELECT {UUID_SQL.format(x="'e'||i")}, (i % :hosts) + 1, 1, 'hook', (i / :hosts) + 1,
  md5('p'||i)||md5('q'||i), md5('h'||i)||md5('k'||i), 'libxl', 'guest-'||{GUEST},
  (ARRAY['prepare','start','started','stopped','release'])[1 + (i / :hosts) % 5],
  'begin', '-', {UUID_SQL.format(x="'g'||" + GUEST)},
  TIMESTAMP '2026-01-01' + i * INTERVAL '86400 milliseconds' / 1000,
  12.5, CASE WHEN r < 20 THEN 1 ELSE 0 END, {OUTCOME},
  CASE WHEN r < 20 THEN 'hook script exit 1: bridge br'||(r % 7)||' missing' END, NULL,
  encode(sha256(convert_to('xml'||({GUEST} % 1000), 'UTF8')), 'hex'), false, 0,
  '[]', '[]', '0.1.0', 'dom0', 4242, convert_to(repeat('c', 700), 'UTF8'), true,
  TIMESTAMP '2026-01-01' + i * INTERVAL '86400 milliseconds' / 1000
FROM (SELECT i, abs(hashtext(i::text)) % 1000 AS r FROM generate_series(:a, :b - 1) AS i) s
"""

SEED_REST = f"""
INSERT INTO hosts (id, name, created_at, chain_problems, events_count, last_seen_at)
  SELECT h, 'dom0-'||lpad(h::text, 4, '0'), TIMESTAMP '2026-01-01', 0, 0, now()
  FROM generate_series(1, :hosts) h;
INSERT INTO xml_blobs (sha256, size, data, created_at)
  SELECT encode(sha256(convert_to('xml'||b, 'UTF8')), 'hex'), 8000,
         convert_to(repeat(md5(b::text), 120), 'UTF8'), TIMESTAMP '2026-01-01'
  FROM generate_series(0, 999) b;
INSERT INTO guests (domain_uuid, name, driver, current_host, state, first_seen_at,
  last_event_at, last_event_id, last_op, last_outcome)
  SELECT {UUID_SQL.format(x="'g'||g")}, 'guest-'||g, 'libxl',
         'dom0-'||lpad((g / 20 + 1)::text, 4, '0'),
         'running', TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-01' + g * INTERVAL '1 second',
         {UUID_SQL.format(x="'x'||g")}, 'started', 'ok'
  FROM generate_series(0, :hosts * 20 - 1) g;
"""


def seed(engine, hosts: int, start: int, stop: int, chunk: int = 250_000) -> float:
    t0 = time.perf_counter()
    with engine.begin() as c:
        if start == 0:
            for stmt in SEED_REST.strip().split(";\n"):
                c.execute(text(stmt), {"hosts": hosts})
    for a in range(start, stop, chunk):
        with engine.begin() as c:
            c.execute(text(SEED_EVENTS), {"hosts": hosts, "a": a, "b": min(stop, a + chunk)})
        print(
            f"  seeded {min(stop, a + chunk):,} events ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(
            text("UPDATE hosts SET events_count = :n / :h, last_seq = :n / :h"),
            {"n": stop, "h": hosts},
        )
        c.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - t0


def queries(n: int, hosts: int) -> dict[str, str]:
    """Name -> URL of each page/API query a user or the dashboard makes."""
    last = BASE + timedelta(seconds=n * 86400 / PER_DAY)
    h1, h2 = ((last - timedelta(hours=h)).isoformat() for h in (5, 4))
    host = "dom0-0042"
    return {
        "events, newest page": "/api/v1/events?limit=50",
        "events, page 20 (keyset)": "PAGES:20:/api/v1/events?limit=50",
        "events, one host": f"/api/v1/events?limit=50&host={host}",
        "events, one guest (uuid)": "/api/v1/events?limit=50&guest={guest}",
        "events, one hour window": f"/api/v1/events?limit=50&since={h1}&until={h2}",
        "events, aborted on one host": f"/api/v1/events?limit=50&host={host}&outcome=aborted",
        "events, text search in reason": "/api/v1/events?limit=50&q=br3",
        "aborts, newest page": "/api/v1/aborts?limit=50",
        "guest timeline": "/api/v1/guests/{guest}/timeline",
        "guests, newest page": "/api/v1/guests?limit=50",
        "hosts list": "/api/v1/hosts",
        "overview (dashboard)": "/api/v1/overview",
    }


def timed(client, url: str, headers: dict) -> tuple[float, int]:
    if url.startswith("PAGES:"):
        _, pages, url = url.split(":", 2)
        t0, cursor, status = time.perf_counter(), None, 0
        for _ in range(int(pages)):
            r = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
            status, cursor = r.status_code, r.json().get("next_cursor")
        return (time.perf_counter() - t0) * 1000 / int(pages), status
    t0 = time.perf_counter()
    r = client.get(url, headers=headers)
    return (time.perf_counter() - t0) * 1000, r.status_code


def measure(app, n: int, hosts: int, reps: int = 5) -> dict:
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from app.models import Guest
    from app.services import accounts

    with app.state.db.session(write=True) as s:
        name = f"bench{n}"
        accounts.add_user(s, name, "admin", None)
        token = accounts.create_user_token(s, name)
        guest = s.scalar(select(Guest.domain_uuid).order_by(Guest.domain_uuid).limit(1))
    headers = {"Authorization": f"Bearer {token}"}
    out = {}
    with TestClient(app) as client:
        base_ms = statistics.median(timed(client, "/healthz", {})[0] for _ in range(20))
        out["baseline /healthz"] = {"ms": round(base_ms, 2), "status": 200}
        for label, url in queries(n, hosts).items():
            url = url.replace("{guest}", guest)
            timed(client, url, headers)  # warm-up (plans, caches)
            runs = [timed(client, url, headers) for _ in range(reps)]
            out[label] = {
                "ms": round(statistics.median(r[0] for r in runs), 1),
                "status": runs[-1][1],
            }
            print(
                f"  {label:34s} {out[label]['ms']:9.1f} ms  (HTTP {out[label]['status']})",
                flush=True,
            )
    return out


def sizes_mb(engine) -> dict:
    sql = """SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC LIMIT 6"""
    with engine.connect() as c:
        rows = c.execute(text(sql)).all()
        idx = c.execute(
            text(
                "SELECT indexrelname, pg_relation_size(indexrelid) FROM "
                "pg_stat_user_indexes WHERE relname = 'events' ORDER BY 2 DESC"
            )
        ).all()
    return {
        "tables": {r[0]: round(r[1] / 2**20) for r in rows},
        "events_indexes": {r[0]: round(r[1] / 2**20) for r in idx},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="admin URL of a PostgreSQL server (a scratch database is created)",
    )
    ap.add_argument("--sizes", default="1000000,5000000")
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--db-name", default="hookaudit_bench_scale")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.json"))
    args = ap.parse_args(argv)

    from app.config import Settings
    from app.db import normalize_url
    from app.main import create_app
    from app.migrate import upgrade

    admin = create_engine(normalize_url(args.pg), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {args.db_name} WITH (FORCE)"))
        c.execute(text(f"CREATE DATABASE {args.db_name}"))
    url = normalize_url(args.pg).rsplit("/", 1)[0] + "/" + args.db_name
    upgrade(url)
    engine = create_engine(url)
    report = {"hosts": args.hosts, "started": datetime.now(UTC).isoformat(), "runs": []}
    done = 0
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            print(f"seeding to {n:,} events", flush=True)
            seconds = seed(engine, args.hosts, done, n)
            done = n
            app = create_app(Settings(database_url=url))
            print(f"measuring at {n:,} events", flush=True)
            report["runs"].append(
                {
                    "events": n,
                    "seed_s": round(seconds),
                    "sizes_mb": sizes_mb(engine),
                    "queries": measure(app, n, args.hosts),
                }
            )
            app.state.db.dispose()
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(report, indent=2))
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as c:
                c.execute(text(f"DROP DATABASE IF EXISTS {args.db_name} WITH (FORCE)"))
        admin.dispose()
    print(markdown(report))
    return 0


def markdown(report: dict) -> str:
    runs = report["runs"]
    head = "| query | " + " | ".join(f"{r['events']:,} events (ms)" for r in runs) + " |"
    lines = [head, "|---|" + "---:|" * len(runs)]
    for label in runs[0]["queries"]:
        cells = [
            f"{r['queries'][label]['ms']}"
            + (
                ""
                if r["queries"][label]["status"] == 200
                else f" (HTTP {r['queries'][label]['status']})"
            )
            for r in runs
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

"""Server-side render time of the dashboard's pages on a large PostgreSQL or SQLite dataset.

    python bench/dashboard_pages.py --url postgresql+psycopg://postgres@127.0.0.1:5432/hookaudit_bench_dash \
        [--events 1000000] [--reseed] [--runs 30]
    python bench/dashboard_pages.py --url sqlite:////tmp/hookaudit-bench-dash.db [...]

Seeds (once, or with --reseed) a synthetic fleet straight into the tables with one
INSERT ... SELECT generate_series per table: 50 hosts, 20,000 guests, N events (lifecycle
ops in order, ~1 % aborted, ~0.1 % killed, a deny decision per abort) spread over 30 days,
and one guest ("big-guest") with N/100 events. Then it logs in as a viewer and times each
page in-process (TestClient: routing + queries + template, no network), reporting p50/p95
and the ratio to GET /healthz measured in the same run. The histogram, the rule page,
search and suggest are timed too (the events/aborts/overview pages include a histogram). The data is synthetic (hashes are
not a valid chain): this measures reads and rendering, not ingest.
"""
import argparse
import statistics
import time

from sqlalchemy import func, select, text


SEED_SQL = [
    "INSERT INTO hosts (name, created_at, last_seen_at, hb_at, shim_version, chain_problems, events_count) "
    "SELECT 'dom0-' || lpad(h::text, 3, '0'), now() - interval '60 days', now(), now(), '0.1.0', 0, :n / 50 "
    "FROM generate_series(1, 50) h",
    # e(i): host, guest, op by position; started_at evenly over the last 30 days
    """INSERT INTO events (event_id, host_id, v, kind, seq, prev_hash, hash, driver, object, op, subop,
        extra, domain_uuid, started_at, duration_ms, exit_code, outcome, reason, stderr, xml_truncated,
        redactions, policy_bundle_version, canonical, chain_ok, received_at)
    SELECT md5('e' || i)::uuid::text, (i % 50) + 1, 1, 'hook', i / 50 + 1, md5('p' || i) || md5('q' || i),
        md5('h' || i) || md5('k' || i), 'libxl',
        CASE WHEN i % 100 = 0 THEN 'big-guest' ELSE 'guest-' || ((i / 5) % 19999 + 1) END,
        (ARRAY['prepare','start','started','stopped','release'])[
            CASE WHEN i % 100 = 0 THEN (i / 100) % 5 ELSE i % 5 END + 1],
        CASE WHEN (CASE WHEN i % 100 = 0 THEN (i / 100) % 5 ELSE i % 5 END) >= 3
             THEN 'end' ELSE 'begin' END, '-',
        CASE WHEN i % 100 = 0 THEN md5('big')::uuid::text ELSE md5('g' || ((i / 5) % 19999 + 1))::uuid::text END,
        now() - interval '30 days' + (i * (interval '30 days' / :n)), 1.5, 
        CASE WHEN i % 97 = 0 THEN 1 WHEN i % 1009 = 0 THEN 1 ELSE 0 END,
        CASE WHEN i % 97 = 0 THEN 'aborted' WHEN i % 1009 = 0 THEN 'killed' ELSE 'ok' END,
        CASE WHEN i % 97 = 0 THEN 'policy: rule-' || (i % 7) || ' refused the start' END,
        NULL, false, 0, 'bench-1', '\\x00'::bytea, true, now()
    FROM generate_series(1, :n) i""",
    """INSERT INTO policy_decisions (event_id, rule_id, mode, verdict, message, bundle_version, at)
    SELECT id, 'rule-' || (substr(reason, 14, 1)), 'enforce', 'deny', reason, 'bench-1', started_at
    FROM events WHERE outcome = 'aborted'""",
    """INSERT INTO guests (domain_uuid, name, driver, current_host, state, first_seen_at, last_event_at,
        last_event_id, last_op, last_outcome)
    SELECT DISTINCT ON (domain_uuid) domain_uuid, object, 'libxl', 'dom0-001', 'running',
        now() - interval '30 days', started_at, event_id, op, outcome
    FROM events ORDER BY domain_uuid, started_at DESC""",
    "ANALYZE",
]

# The same fleet on SQLite (no generate_series, md5 or DISTINCT ON there): a recursive
# series, printf-made ids, and SQLite's bare columns of the max(started_at) row per guest.
SERIES = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
BIG_UUID_SQLITE = "b16b16b1-0000-4000-8000-000000000000"
OP_AT = "CASE WHEN i % 100 = 0 THEN (i / 100) % 5 ELSE i % 5 END"
SEED_SQLITE = [
    SERIES.format(n=50) + "INSERT INTO hosts (name, created_at, last_seen_at, hb_at, "
    "shim_version, chain_problems, events_count) SELECT 'dom0-' || printf('%03d', i), "
    "datetime('now', '-60 days'), datetime('now'), datetime('now'), '0.1.0', 0, :n / 50 FROM s",
    SERIES.format(n=":n") + f"""INSERT INTO events (event_id, host_id, v, kind, seq, prev_hash,
        hash, driver, object, op, subop, extra, domain_uuid, started_at, duration_ms,
        exit_code, outcome, reason, stderr, xml_truncated, redactions, policy_bundle_version,
        canonical, chain_ok, received_at)
    SELECT printf('%08x-0000-4000-8000-%012x', i, i), (i % 50) + 1, 1, 'hook', i / 50 + 1,
        printf('%064x', i), printf('%064x', i + 1), 'libxl',
        CASE WHEN i % 100 = 0 THEN 'big-guest' ELSE 'guest-' || ((i / 5) % 19999 + 1) END,
        CASE {OP_AT} WHEN 0 THEN 'prepare' WHEN 1 THEN 'start' WHEN 2 THEN 'started'
            WHEN 3 THEN 'stopped' ELSE 'release' END,
        CASE WHEN {OP_AT} >= 3 THEN 'end' ELSE 'begin' END, '-',
        CASE WHEN i % 100 = 0 THEN '{BIG_UUID_SQLITE}'
             ELSE printf('00000000-0000-4000-8000-%012x', (i / 5) % 19999 + 1) END,
        strftime('%Y-%m-%d %H:%M:%f', 'now', '-30 days',
                 '+' || (i * 2592000.0 / :n) || ' seconds') || '000', 1.5,
        CASE WHEN i % 97 = 0 THEN 1 WHEN i % 1009 = 0 THEN 1 ELSE 0 END,
        CASE WHEN i % 97 = 0 THEN 'aborted' WHEN i % 1009 = 0 THEN 'killed' ELSE 'ok' END,
        CASE WHEN i % 97 = 0 THEN 'policy: rule-' || (i % 7) || ' refused the start' END,
        NULL, 0, 0, 'bench-1', X'00', 1, datetime('now')
    FROM s""",
    """INSERT INTO policy_decisions (event_id, rule_id, mode, verdict, message, bundle_version, at)
    SELECT id, 'rule-' || (substr(reason, 14, 1)), 'enforce', 'deny', reason, 'bench-1',
        started_at FROM events WHERE outcome = 'aborted'""",
    """INSERT INTO guests (domain_uuid, name, driver, current_host, state, first_seen_at,
        last_event_at, last_event_id, last_op, last_outcome)
    SELECT domain_uuid, object, 'libxl', 'dom0-001', 'running', datetime('now', '-30 days'),
        max(started_at), event_id, op, outcome FROM events GROUP BY domain_uuid""",
    "ANALYZE",
]


def seed(db, n: int, reseed: bool) -> None:
    from app.models import Base

    if reseed:
        Base.metadata.drop_all(db.engine)
    Base.metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        seeded = conn.execute(text("SELECT count(*) FROM events")).scalar()
        for sql in [] if seeded else (SEED_SQLITE if db.is_sqlite else SEED_SQL)[:-1]:
            t = time.perf_counter()
            conn.execute(text(sql), {"n": n})
            table = sql.split("INSERT INTO ")[1].split()[0]
            print(f"  seeded in {time.perf_counter() - t:.1f} s: {table}")
    rollup_seed(db)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))


def rollup_seed(db) -> None:
    """Count the histograms' rollup of this tree from the events (as its migrations backfill
    it; ingest keeps it afterwards) where its tables are empty: a database seeded by another
    tree (timing before/after on the same data) has only that tree's rollup tables."""
    try:
        from app.services import histogram_rollup
    except ImportError:   # a tree from before the rollup
        return
    fine = histogram_rollup.TABLE
    coarse = getattr(histogram_rollup, "COARSE", None)    # a tree with the 3-hour level
    tables = [fine] + ([coarse.table] if coarse else [])
    with db.session(write=True) as s:
        if not s.scalar(select(func.count()).select_from(fine)):
            t = time.perf_counter()
            histogram_rollup.rebuild(s)     # both levels
            print(f"  seeded in {time.perf_counter() - t:.1f} s: "
                  + ", ".join(table.name for table in tables))
        elif coarse and not s.scalar(select(func.count()).select_from(coarse.table)):
            t = time.perf_counter()
            histogram_rollup.rebuild_coarse(s)
            print(f"  seeded in {time.perf_counter() - t:.1f} s: {coarse.table.name}")
        else:
            return
    if not db.is_sqlite:   # what autovacuum does to a table written long ago: index-only scans
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.execute(text(f"VACUUM {table.name}"))


def login(app):
    import re

    from fastapi.testclient import TestClient

    from app.services import accounts
    with app.state.db.session(write=True) as s:
        if accounts.user_for_password(s, "bench", "bench-password-1") is None:
            accounts.add_user(s, "bench", "viewer", "bench-password-1")
    c = TestClient(app, base_url="https://bench")
    # enter it: the app's lifespan then runs as under `hookaudit serve` (starters, and the
    # once-per-process gc.freeze without which full collections re-scan the whole app and
    # show up as p95 spikes on pages that build many objects)
    c.__enter__()
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": "bench", "password": "bench-password-1",
                               "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.status_code
    return c


def measure(client, url: str, runs: int) -> list[float]:
    for _ in range(3):                       # warm caches and the connection pool
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, url
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--reseed", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated: time only pages whose label "
                                               "contains one of these (the baseline always runs)")
    args = ap.parse_args()

    from app.config import Settings
    from app.main import create_app

    app = create_app(Settings(database_url=args.url, secret_key="bench-" + "s" * 32))
    seed(app.state.db, args.events, args.reseed)
    client = login(app)
    with app.state.db.engine.connect() as conn:
        big = BIG_UUID_SQLITE if app.state.db.is_sqlite else conn.execute(
            text("SELECT md5('big')::uuid::text")).scalar()
        n = conn.execute(text("SELECT count(*) FROM events")).scalar()
        nbig = conn.execute(text("SELECT count(*) FROM events WHERE domain_uuid = :u"), {"u": big}).scalar()
        first_event = conn.execute(text("SELECT event_id FROM events WHERE id = 12345")).scalar()
    print(f"dataset: {n} events, big guest {nbig} events, {args.runs} runs per page")
    pages = [("baseline /healthz", "/healthz"), ("overview", "/"),
             (f"guest ({nbig} events), default range", f"/guests/{big}"),
             ("same guest, last 24h", f"/guests/{big}?range=24h"),
             ("same guest, last 30d (whole life)", f"/guests/{big}?range=30d"),
             # ~1,000 calls: the most the page draws a bar per boot for (timeline_dense_calls)
             ("same guest, 70 h (~970 calls, bars)", f"/guests/{big}?since=-70h"),
             ("guest density JSON, whole life", f"/api/v1/guests/{big}/density"),
             ("aborts (grouped by reason)", "/aborts"), ("aborts by rule", "/aborts?by=rule"),
             ("events (+ histogram, 24h)", "/events"),
             ("events, host filter", "/events?host=dom0-007"),
             ("events, host glob", "/events?host=dom0-00*"),
             ("events, rule + verdict filter", "/events?rule=rule-3&verdict=deny"),
             ("aborts, rule filter", "/aborts?rule=rule-3"),
             ("events, last 7d", "/events?since=-7d"),
             ("events, last 30d", "/events?since=-30d"),
             ("overview, last 7d", "/?since=-7d"),
             ("overview, last 30d", "/?since=-30d"),
             ("aborts, last 7d", "/aborts?since=-7d"),
             ("aborts, last 30d", "/aborts?since=-30d"),
             ("histogram JSON, 24h", "/api/v1/histogram"),
             ("histogram JSON, 7d", "/api/v1/histogram?since=-7d"),
             ("histogram JSON, 30d", "/api/v1/histogram?since=-30d"),
             ("histogram JSON, 30d, host glob", "/api/v1/histogram?since=-30d&host=dom0-00*"),
             ("aborts histogram JSON, 24h", "/api/v1/histogram?scope=aborts"),
             ("aborts histogram JSON, 7d", "/api/v1/histogram?since=-7d&scope=aborts"),
             ("aborts histogram JSON, 30d", "/api/v1/histogram?since=-30d&scope=aborts"),
             ("rule page (7d of a rule's hits)", "/policies/rules/rule-3?since=-7d"),
             ("search, one guest (jumps)", "/api/v1/search?q=guest-12345"),
             ("search, by prefix", "/api/v1/search?q=guest-1"),
             ("search, event id", f"/api/v1/search?q={first_event}"),
             ("suggest guest names", "/api/v1/suggest?field=guest&prefix=guest-12"),
             ("guests", "/guests"), ("hosts", "/hosts")]
    base = None
    print(f"{'page':38} {'p50 ms':>8} {'p95 ms':>8} {'p95/baseline':>13}")
    for label, url in pages:
        if args.only and url != "/healthz" and not any(w in label for w in args.only.split(",")):
            continue
        times = measure(client, url, args.runs)
        p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[18]
        base = base or p95
        print(f"{label:38} {p50:8.1f} {p95:8.1f} {p95 / base:13.1f}")
    client.__exit__(None, None, None)   # runs the lifespan's shutdown (disposes the pool)


if __name__ == "__main__":
    main()

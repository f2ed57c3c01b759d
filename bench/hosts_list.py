"""Hosts list (API and page) with many hosts: time and SQL statements per request.

    PYTHONPATH=. python bench/hosts_list.py --url postgresql+psycopg://postgres@127.0.0.1:5432/DB \
        [--hosts 1000] [--runs 30]

Seeds (once) --hosts hosts straight into an empty schema (every 10th with two open seq gaps,
every 50th with chain problems, heartbeats on all), then times GET /api/v1/hosts (bearer
token), the /hosts page and the overview (viewer session) in-process, 30 runs after 3
warm-ups, p50/p95 and the number of SQL statements one request issues. The number of events
does not matter to these requests, so there are none.
"""
import argparse
import statistics
import time

from sqlalchemy import event, text

SEED = [
    """INSERT INTO hosts (name, created_at, last_seen_at, hb_at, shim_version, chain_problems,
        events_count, hb_spool_depth, hb_oldest_unsent_age_s, hb_parked)
    SELECT 'dom0-' || lpad(h::text, 4, '0'), now() - interval '60 days', now(), now(), '0.1.0',
        CASE WHEN h % 50 = 0 THEN 2 ELSE 0 END, 1000, h % 7, h % 13, 0
    FROM generate_series(1, :n) h""",
    """INSERT INTO seq_gaps (host_id, from_seq, to_seq, detected_at)
    SELECT id, g * 100, g * 100 + 4, now() FROM hosts, generate_series(1, 2) g WHERE id % 10 = 0""",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()

    from app.config import Settings
    from app.main import create_app
    from app.models import Base
    from app.services import accounts
    from bench.dashboard_pages import login

    app = create_app(Settings(database_url=args.url, secret_key="bench-" + "s" * 32))
    engine = app.state.db.engine
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        if not conn.execute(text("SELECT count(*) FROM hosts")).scalar():
            for sql in SEED:
                conn.execute(text(sql), {"n": args.hosts})
    client = login(app)
    with app.state.db.session(write=True) as s:
        if not s.scalar(text("SELECT count(*) FROM users WHERE name = 'bench-api'")):
            accounts.add_user(s, "bench-api", "viewer", None)
        token = accounts.create_user_token(s, "bench-api")
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(1))
    with open("/proc/loadavg") as f:
        print(f"{args.hosts} hosts, {args.runs} runs; load average {f.read().split()[:3]}")
    print(f"{'request':24} {'p50 ms':>8} {'p95 ms':>8} {'statements':>11}")
    for label, url, headers in (("GET /api/v1/hosts", "/api/v1/hosts",
                                 {"Authorization": f"Bearer {token}"}),
                                ("/hosts page", "/hosts", {}), ("overview page", "/", {})):
        for _ in range(3):
            assert client.get(url, headers=headers).status_code == 200, url
        statements.clear()
        assert client.get(url, headers=headers).status_code == 200
        count = len(statements)
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            r = client.get(url, headers=headers)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, url
        p50, p95 = statistics.median(times), statistics.quantiles(times, n=20)[18]
        print(f"{label:24} {p50:8.1f} {p95:8.1f} {count:11}")
    client.close()
    app.state.db.dispose()


if __name__ == "__main__":
    main()

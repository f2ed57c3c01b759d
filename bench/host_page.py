"""Host page (API) with a month of heartbeat history: time per request, against the hosts
list in the same run as the baseline.

    PYTHONPATH=. python bench/host_page.py [--url sqlite:////tmp/hp.db] [--runs 20]

Seeds one host (into an empty schema) with the history the retention run leaves after 30
days of 30-second heartbeats: 48 h of raw beats (5,760 rows) and 28 days of 10-minute
buckets (4,032 rows), and 2,000 events over the month. Times GET /api/v1/hosts/dom0-0001
for the default 24 h and for 30 days, and GET /api/v1/hosts, in-process: p50/p95 after 3
warm-ups, and the CPU time of the process per request (p50: steadier than wall time on
a shared machine).
"""
import argparse
import statistics
import time
from datetime import timedelta


def seed(app) -> str:
    from sqlalchemy import select

    from app.models import Host, HostHeartbeat
    from app.services import accounts
    from tests.fixtures_app import HostCred
    from app.timeutil import utcnow
    from tests.factories import make_chain, post_events

    now = utcnow()
    with app.state.db.session(write=True) as s:
        token = accounts.add_host(s, "dom0-0001")
        host_id = s.scalar(select(Host.id).where(Host.name == "dom0-0001"))
        raw = [now - timedelta(seconds=30 * i) for i in range(5760)]
        old = [now - timedelta(hours=48) - timedelta(minutes=10 * i) for i in range(4032)]
        s.add_all([HostHeartbeat(host_id=host_id, at=t, until=t, beats=1, bucketed=False,
                                 spool_depth=i % 9, oldest_unsent_age_s=float(i % 31))
                   for i, t in enumerate(raw)])
        s.add_all([HostHeartbeat(host_id=host_id, at=t, until=t + timedelta(seconds=570),
                                 beats=20, bucketed=True, spool_depth=i % 9,
                                 oldest_unsent_age_s=float(i % 31)) for i, t in enumerate(old)])
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        events = make_chain("dom0-0001", 2000, start=now - timedelta(days=30),
                            step=timedelta(minutes=21))
        for i in range(0, len(events), 500):
            r = post_events(c, HostCred("dom0-0001", token), events[i:i + 500])
            assert r.status_code == 200, r.text
    return token


def timed(client, url, headers, runs) -> tuple[float, float]:
    for _ in range(3):
        assert client.get(url, headers=headers).status_code == 200
    times, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        assert client.get(url, headers=headers).status_code == 200
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1], statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="sqlite:////tmp/hookaudit-bench-host-page.db")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app
    from app.models import Base
    from app.services import accounts
    from app.timeutil import iso, utcnow

    app = create_app(Settings(database_url=args.url, secret_key="bench-" + "k" * 32))
    Base.metadata.drop_all(app.state.db.engine)
    Base.metadata.create_all(app.state.db.engine)
    seed(app)
    with app.state.db.session(write=True) as s:
        accounts.add_user(s, "bench", "viewer", None)
        token = accounts.create_user_token(s, "bench")
    auth = {"Authorization": f"Bearer {token}"}
    month = "/api/v1/hosts/dom0-0001?since=" + iso(utcnow() - timedelta(days=30))
    with TestClient(app) as c:
        for label, url in (("hosts list (baseline)", "/api/v1/hosts"),
                           ("host page 24 h", "/api/v1/hosts/dom0-0001"),
                           ("host page 30 d", month)):
            p50, p95, cpu = timed(c, url, auth, args.runs)
            print(f"{label:24} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   cpu p50 {cpu:7.1f} ms")
    app.state.db.dispose()


if __name__ == "__main__":
    main()

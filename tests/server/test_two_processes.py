"""Two `hookaudit serve` processes ingesting into one database at once (SQLite and PostgreSQL):
hosts sharing guests and XML bodies, every batch delivered to both processes concurrently.
No duplicate, no lost event, no deadlock, no 5xx; every chain verifies afterwards."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from app.db import Database
from app.migrate import upgrade
from app.models import ChainProblem, Event, Guest, SeqGap, XmlBlob
from app.services import accounts
from app.services.verify import verify_all
from tests.conftest import REPO
from tests.factories import make_chain
from tests.serving import free_port, wait_ready

pytestmark = pytest.mark.slow
GUESTS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]


def serve(db_url: str, port: int, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "app.cli", "--database-url", db_url, "serve",
           "--port", str(port)]
    env = dict(os.environ, HOOKAUDIT_POOL_SIZE="4", HOOKAUDIT_LOG_LEVEL="warning")
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def two_servers(db_url, tmp_path):
    upgrade(db_url)
    procs, urls = [], []
    with open(tmp_path / "servers.log", "wb") as log:
        try:
            for _ in range(2):
                port = free_port()
                procs.append(serve(db_url, port, log))
                urls.append(f"http://127.0.0.1:{port}")
            for url, proc in zip(urls, procs):
                wait_ready(url, proc)
            yield urls
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(20)


def host_batches(name: str, n: int, size: int) -> list[list[dict]]:
    """``name``'s chain over the shared guests (same XML per guest on every host)."""
    events = []
    for i, guest in enumerate(GUESTS * (n // len(GUESTS))):
        prev = events[-1]["hash"] if events else "0" * 64
        events += make_chain(name, 1, start_seq=i + 1, prev_hash=prev, domain_uuid=guest,
                             object=f"guest-{guest[-1]}", ops=("started", "stopped")[i % 2:])
    return [events[i:i + size] for i in range(0, len(events), size)]


def test_two_processes_store_every_event_once(two_servers, db_url):
    db = Database(db_url)
    names = [f"dom0-{i}" for i in range(6)]
    with db.session(write=True) as s:
        tokens = {n: accounts.add_host(s, n) for n in names}
    jobs = [(url, n, b) for n in names for b in host_batches(n, 120, 20) for url in two_servers]

    def post(job):
        url, name, batch = job
        r = httpx.post(url + "/api/v1/ingest", json={"events": batch}, timeout=120,
                       headers={"Authorization": f"Bearer {tokens[name]}"})
        return r.status_code, r.json()["stored"] if r.status_code == 200 else 0

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, jobs))
    assert {status for status, _ in results} == {200}
    assert sum(stored for _, stored in results) == 6 * 120   # each event stored exactly once
    with db.session() as s:
        count = lambda q: s.scalar(select(func.count()).select_from(q))
        assert count(Event) == 6 * 120
        assert count(ChainProblem) == 0
        assert s.scalar(select(func.count()).select_from(SeqGap)
                        .where(SeqGap.closed_at.is_(None))) == 0
        assert count(Guest) == 3 and count(XmlBlob) == 3
    assert all(r["ok"] for r in verify_all(db))
    db.dispose()

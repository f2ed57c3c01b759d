"""Two app processes (uvicorn) on one PostgreSQL under concurrent ingest: the same host's
batches retried against both, and many hosts at once. No duplicate, no lost event, no 5xx."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from app.db import Database
from app.models import Base, ChainProblem, Event, Host, SeqGap
from app.services import accounts
from tests.conftest import REPO
from tests.factories import make_chain
from tests.fixtures_app import METRICS_HEADERS, METRICS_TOKEN
from tests.serving import free_port, uvicorn_command, wait_ready

pytestmark = [pytest.mark.pg, pytest.mark.slow]


def start_server(db_url: str, port: int, log, prom_dir) -> subprocess.Popen:
    # PROMETHEUS_MULTIPROC_DIR: both processes' counters are summed by whichever is scraped
    env = dict(
        os.environ,
        HOOKAUDIT_DATABASE_URL=db_url,
        HOOKAUDIT_POOL_SIZE="4",
        PROMETHEUS_MULTIPROC_DIR=str(prom_dir),
        HOOKAUDIT_METRICS_TOKEN=METRICS_TOKEN,
    )
    cmd = uvicorn_command(port)
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def two_apps(pg_schema_url, tmp_path):
    db = Database(pg_schema_url)
    Base.metadata.create_all(db.engine)
    procs, urls = [], []
    (tmp_path / "prom").mkdir()
    with open(tmp_path / "apps.log", "wb") as log:
        for _ in range(2):
            port = free_port()
            procs.append(start_server(pg_schema_url, port, log, tmp_path / "prom"))
            urls.append(f"http://127.0.0.1:{port}")
        try:
            for url, proc in zip(urls, procs):
                wait_ready(url, proc)
            yield db, urls
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(10)
            db.dispose()


def add_hosts(db, names) -> dict:
    with db.session(write=True) as s:
        return {n: accounts.add_host(s, n) for n in names}


def post(url, token, events) -> int:
    r = httpx.post(
        url + "/api/v1/ingest",
        json={"events": events},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    return r.status_code


def check_store(db, expected: dict) -> None:
    """Every host has exactly seq 1..n, once each, no chain problem and no open gap."""
    with db.session() as s:
        for name, n in expected.items():
            host_id = s.scalar(select(Host.id).where(Host.name == name))
            seqs = sorted(s.scalars(select(Event.seq).where(Event.host_id == host_id)))
            assert seqs == list(range(1, n + 1)), name
        assert s.scalar(select(func.count()).select_from(ChainProblem)) == 0
        assert (
            s.scalar(select(func.count()).select_from(SeqGap).where(SeqGap.closed_at.is_(None)))
            == 0
        )


def test_one_hosts_retried_batches_hit_both_processes(two_apps):
    db, urls = two_apps
    token = add_hosts(db, ["dom0-retry"])["dom0-retry"]
    events = make_chain("dom0-retry", 300)
    batches = [events[i : i + 25] for i in range(0, 300, 25)]
    # every batch goes to both processes at once (a forwarder retrying after a timeout), and
    # overlapping windows repeat half of the previous batch
    jobs = [(url, b) for b in batches for url in urls]
    jobs += [(urls[i % 2], events[i * 25 + 12 : i * 25 + 37]) for i in range(11)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda j: post(j[0], token, j[1]), jobs))
    assert set(statuses) == {200}
    check_store(db, {"dom0-retry": 300})


def test_many_hosts_ingest_concurrently_through_both_processes(two_apps):
    db, urls = two_apps
    names = [f"dom0-{i:02d}" for i in range(24)]
    tokens = add_hosts(db, names)

    def drain(i_name):
        i, name = i_name
        events = make_chain(name, 120)
        return [
            post(urls[(i + j) % 2], tokens[name], events[j : j + 20]) for j in range(0, 120, 20)
        ]

    with ThreadPoolExecutor(12) as pool:
        statuses = {s for result in pool.map(drain, enumerate(names)) for s in result}
    assert statuses == {200}
    check_store(db, {n: 120 for n in names})
    for url in urls:  # each process reports the events both stored
        assert ingested_total(url) == 24 * 120


def ingested_total(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text_ = httpx.get(url + "/metrics", headers=METRICS_HEADERS, timeout=10).text
    return sum(
        s.value
        for fam in text_string_to_metric_families(text_)
        for s in fam.samples
        if s.name == "hookaudit_events_ingested_total"
    )

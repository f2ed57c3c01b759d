"""A host's spool reset, end to end: the shim's spool declares it, the server shows it.

Events the damaged spool held but never delivered are a gap closed as *declared by the
reset*: no open gap, no chain problem, and the host shows "spool reset" (page and JSON).
"""
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.models import SeqGap
from app.services.verify import verify_host
from hookshim.spool import Spool
from tests.dashboard.conftest import BASE_URL, login
from tests.factories import post_events
from tests.hookshim.helpers import hook_event
from tests.hookshim.test_spool_reset import damage_events_table


def append(spool, n):
    return [spool.append(hook_event(host="host-a", object="g%d" % i)) for i in range(n)]


def test_a_reset_with_a_readable_head_declares_the_undelivered_events(
        app, client, host_a, viewer, tmp_path):
    path = str(tmp_path / "spool.db")
    with Spool(path) as sp:
        delivered, undelivered = append(sp, 3), append(sp, 2)
    assert post_events(client, host_a, delivered).json()["chain_problems"] == []
    damage_events_table(tmp_path / "spool.db")
    with Spool(path) as sp:
        append(sp, 1)
        fresh = sp.latest()
    assert [e["kind"] for e in fresh] == ["spool_reset", "hook"]
    body = post_events(client, host_a, fresh).json()
    assert (body["gaps"], body["chain_problems"]) == ([], [])
    host = {h["name"]: h for h in viewer.client.get("/api/v1/hosts").json()}["host-a"]
    assert host["health"] == "spool_reset" and host["open_gaps"] == []
    assert host["spool_reset"]["event_id"] == fresh[0]["event_id"]
    assert (host["spool_reset"]["head_seq"], host["spool_reset"]["head_hash"]) == (
        5, undelivered[-1]["hash"])
    with app.state.db.session() as s:
        gaps = s.execute(select(SeqGap.from_seq, SeqGap.to_seq, SeqGap.declared_by)).all()
    assert [tuple(g) for g in gaps] == [(4, 5, fresh[0]["event_id"])]
    assert verify_host(app.state.db, "host-a")["ok"]
    with TestClient(app, base_url=BASE_URL) as browser:
        page = login(browser, viewer.name).get("/hosts").text
    assert "spool reset</a>" in page and fresh[0]["event_id"] in page


def test_a_reset_with_nothing_readable_is_declared_not_tampering(
        app, client, host_a, viewer, tmp_path):
    path = tmp_path / "spool.db"
    with Spool(str(path)) as sp:
        post_events(client, host_a, append(sp, 2))
    path.write_bytes(b"garbage" * 5000)
    for suffix in ("-wal", "-shm"):
        (tmp_path / ("spool.db" + suffix)).unlink(missing_ok=True)
    with Spool(str(path)) as sp:
        append(sp, 1)
        fresh = sp.latest()
    assert fresh[0]["reset"]["head_hash"] == "unknown"
    body = post_events(client, host_a, fresh).json()
    assert (body["gaps"], body["chain_problems"]) == ([], [])
    host = viewer.client.get("/api/v1/hosts/host-a").json()
    assert host["chain_status"] == "ok" and host["spool_reset"]["head_seq"] is None
    assert verify_host(app.state.db, "host-a")["ok"]


def test_a_gap_without_a_reset_stays_open(client, host_a, viewer, tmp_path):
    with Spool(str(tmp_path / "spool.db")) as sp:
        events = append(sp, 3)
    body = post_events(client, host_a, events[:1] + events[2:]).json()
    assert body["gaps"] == [[2, 2]]
    assert viewer.client.get("/api/v1/hosts/host-a").json()["spool_reset"] is None

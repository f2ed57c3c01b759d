"""Hosts report their chain head in every heartbeat; the server keeps a bounded history and
`verify` reports a store that is behind or diverges from what the host said."""
import pytest

from app.models import HostChainHead
from app.services.chain_heads import KEEP, thin
from app.services.verify import verify_all
from hookshim.event import canonical_bytes, chain_hash
from tests.factories import make_chain, post_events
from tests.integrity.helpers import sql


def beat(client, host, seq, hash_):
    return client.post("/api/v1/heartbeat", headers=host.headers,
                       json={"host": host.name, "chain_head": {"seq": seq, "hash": hash_}})


@pytest.fixture
def reported(app, client, host_a):
    """Three stored events of host-a whose newest the host reported as acknowledged."""
    events = make_chain("host-a", 3)
    post_events(client, host_a, events)
    assert beat(client, host_a, 3, events[2]["hash"]).status_code == 200
    assert verify_all(app.state.db)[0]["ok"]
    return events


def _problems(app) -> list[str]:
    [result] = verify_all(app.state.db)
    assert not result["ok"]
    return [p for b in result["bad"] for p in b["problems"]]


def test_deleting_the_newest_events_is_reported_as_behind(app, reported):
    sql(app.state.db, "DELETE FROM events WHERE seq >= 2")
    [problem] = _problems(app)
    assert problem.startswith("store is behind: the host reported seq 3 hash "
                              f"{reported[2]['hash'][:12]}")
    assert problem.endswith("the store ends at seq 1")


def test_rewriting_the_newest_event_consistently_is_reported_as_diverging(app, reported):
    forged = dict(reported[2], op="release", outcome="ok")
    forged["hash"] = chain_hash(forged)   # a self-consistent rewrite: hash, canonical, columns
    sql(app.state.db, "UPDATE events SET op = 'release', outcome = 'ok', hash = :h,"
                      " canonical = :c WHERE seq = 3",
        h=forged["hash"], c=canonical_bytes(forged))
    [result] = verify_all(app.state.db)
    assert [b["event_id"] for b in result["bad"]] == [reported[2]["event_id"]]
    [problem] = result["bad"][0]["problems"]
    assert problem.startswith("store diverges from the host: the host reported seq 3")


def test_a_head_the_store_holds_is_no_alarm_even_with_newer_events(app, client, host_a,
                                                                   reported):
    more = make_chain("host-a", 2, start_seq=4, prev_hash=reported[2]["hash"])
    post_events(client, host_a, more)
    assert verify_all(app.state.db)[0]["ok"]


def test_a_missing_event_below_the_head_is_named_once(app, client, host_a, reported):
    beat(client, host_a, 2, reported[1]["hash"])
    sql(app.state.db, "DELETE FROM events WHERE seq = 2")
    problems = _problems(app)
    assert "store lost a reported event" in " ".join(problems)
    assert sum("reported seq" in p for p in problems) == 1


def test_heartbeat_records_a_head_only_when_it_moved(app, client, host_a):
    h = "a" * 64
    for seq in (1, 1, 2, 2, 2):
        assert beat(client, host_a, seq, h).status_code == 200
    with app.state.db.session() as s:
        assert [r.seq for r in s.query(HostChainHead).order_by(HostChainHead.id)] == [1, 2]


@pytest.mark.parametrize("head", [
    {"seq": 0, "hash": "a" * 64},            # seqs start at 1
    {"seq": 1, "hash": "A" * 64},            # hashes are lower-case hex
    {"seq": 1, "hash": "a" * 63},
    {"seq": 2**63, "hash": "a" * 64},
    {"seq": 1},
])
def test_a_malformed_head_is_422(client, host_a, head):
    r = client.post("/api/v1/heartbeat", headers=host_a.headers,
                    json={"host": "host-a", "chain_head": head})
    assert r.status_code == 422


def test_history_stays_bounded(app, client, host_a):
    for seq in range(1, KEEP + 40):
        beat(client, host_a, seq, "b" * 64)
    with app.state.db.session() as s:
        seqs = [r.seq for r in s.query(HostChainHead).order_by(HostChainHead.id.desc())]
    assert len(seqs) <= KEEP and seqs[0] == KEEP + 39


# thin(): newest first ids, keep -> dropped ids
THIN = [
    ([5, 4, 3, 2, 1], 4, [2]),           # older half [3, 2, 1]: every other goes
    ([3, 2, 1], 4, []),                  # within the cap: nothing
    (list(range(10, 0, -1)), 6, [6, 4, 2]),
]


@pytest.mark.parametrize(("ids", "keep", "dropped"), THIN)
def test_thin(ids, keep, dropped):
    assert thin(ids, keep) == dropped

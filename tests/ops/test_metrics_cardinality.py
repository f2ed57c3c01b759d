"""Issue 13 §3: one host token sending 10,000 distinct ops cannot grow /metrics; the ops are
stored as sent and flagged."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.services.events import KNOWN_OPS
from tests.factories import make_chain, post_events

pytestmark = pytest.mark.slow


def ingested_series(app) -> dict:
    """{(driver, op, outcome): count} of hookaudit_events_ingested_total."""
    text = app.state.metrics.exposition().decode()
    return {(s.labels["driver"], s.labels["op"], s.labels["outcome"]): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples
            if s.name == "hookaudit_events_ingested_total"}


def test_ten_thousand_invented_ops_make_one_other_series(app, client, host_a):
    events = make_chain("host-a", 10_000, xml=None)
    for i, event in enumerate(events):
        event.update(op=f"op-{i}", driver=f"drv-{i % 7}")
    events = _rehashed(events)
    for start in range(0, len(events), 1000):
        assert post_events(client, host_a, events[start:start + 1000]).status_code == 200
    known = make_chain("host-a", 1, start_seq=10_001, prev_hash=events[-1]["hash"], xml=None)
    assert post_events(client, host_a, known).status_code == 200
    assert ingested_series(app) == {("other", "other", "ok"): 10_000,
                                    ("libxl", "prepare", "ok"): 1}


def test_an_unknown_op_is_stored_as_sent_and_flagged(client, host_a, viewer):
    events = _rehashed([dict(e, op="frobnicate") if e["seq"] == 2 else e
                        for e in make_chain("host-a", 2)])
    assert post_events(client, host_a, events).json()["stored"] == 2
    items = viewer.client.get("/api/v1/events", params={"order": "asc"}).json()["items"]
    assert [(e["op"], e["known_op"]) for e in items] == [("prepare", True),
                                                        ("frobnicate", False)]
    detail = viewer.client.get(f"/api/v1/events/{events[1]['event_id']}").json()
    assert detail["known_op"] is False


def test_every_op_of_the_libvirt_table_is_known():
    assert {"prepare", "start", "started", "stopped", "release", "migrate", "restore",
            "reconnect", "attach", "shutdown", "reload", "plugged", "unplugged", "updated",
            "port-created", "port-deleted", "spool_reset"} == KNOWN_OPS


def _rehashed(events: list[dict]) -> list[dict]:
    """``events`` relinked and rehashed after their fields were edited."""
    from hookshim.event import GENESIS_HASH, chain_hash

    prev = GENESIS_HASH
    for event in events:
        event["prev_hash"] = prev
        event["hash"] = prev = chain_hash(event)
    return events

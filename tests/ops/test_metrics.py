"""GET /metrics scraped and parsed with prometheus_client's own parser."""

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from tests.factories import make_chain, make_event, post_events
from tests.fixtures_app import METRICS_HEADERS


def scrape(client) -> dict:
    """{(sample name, frozenset(labels)): value}"""
    resp = client.get("/metrics", headers=METRICS_HEADERS)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(resp.text)
        for s in fam.samples
    }


def test_ingest_counters_by_driver_op_outcome_and_batch_size(client, host_a):
    events = make_chain(host_a.name, 4, ops=("prepare", "start"))
    events[3] = make_chain(
        host_a.name, 1, start_seq=4, prev_hash=events[2]["hash"], ops=("start",), outcome="aborted"
    )[0]
    assert post_events(client, host_a, events).status_code == 200
    m = scrape(client)
    labels = lambda op, outcome: frozenset(
        {"driver": "libxl", "op": op, "outcome": outcome}.items()
    )
    assert m[("hookaudit_events_ingested_total", labels("prepare", "ok"))] == 2
    assert m[("hookaudit_events_ingested_total", labels("start", "aborted"))] == 1
    assert m[("hookaudit_ingest_batch_events_count", frozenset())] == 1
    assert m[("hookaudit_ingest_batch_events_sum", frozenset())] == 4
    assert m[("hookaudit_ingest_duration_seconds_count", frozenset({"status": "200"}.items()))] == 1


def test_rejected_batches_are_counted_by_reason(client, host_a, host_b):
    post_events(client, host_a, [make_event(host=host_b.name)])  # 403 wrong host
    client.post("/api/v1/ingest", json={"events": []}, headers={"Authorization": "Bearer nope"})
    post_events(client, host_a, [{"event_id": "x"}])  # 422 invalid
    m = scrape(client)
    for reason in ("wrong_host", "unauthorized", "invalid"):
        assert (
            m[("hookaudit_ingest_rejected_batches_total", frozenset({"reason": reason}.items()))]
            == 1
        )


def test_gaps_and_chain_failures_are_counted_per_host(client, host_a):
    events = make_chain(host_a.name, 6)
    tampered = dict(events[5], hash="f" * 64)
    assert post_events(client, host_a, events[:2] + events[4:5] + [tampered]).status_code == 200
    m = scrape(client)
    host = frozenset({"host": "host-a"}.items())
    assert m[("hookaudit_seq_gaps_total", host)] == 1
    assert m[("hookaudit_seq_gap_missing_events_total", host)] == 2
    assert m[("hookaudit_chain_failures_total", host)] >= 1


def test_host_last_seen_age_is_read_at_scrape_time(client, host_a, host_b):
    post_events(client, host_a, make_chain(host_a.name, 1))
    m = scrape(client)
    ages = {
        dict(lbl)["host"]: v
        for (name, lbl), v in m.items()
        if name == "hookaudit_host_last_seen_age_seconds"
    }
    assert set(ages) == {"host-a"} and 0 <= ages["host-a"] < timedelta(hours=1).total_seconds()


def test_each_app_has_its_own_registry(make_app, client, host_a):
    post_events(client, host_a, make_chain(host_a.name, 2))
    second = make_app()  # would raise "Duplicated timeseries" on a shared registry
    assert second.state.metrics.registry is not client.app.state.metrics.registry
    assert second.state.metrics.events._metrics == {}


def test_metrics_token_when_configured(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(metrics_token="s3cret")) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_metrics_are_not_anonymous_by_default(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(metrics_token=None)) as c:
        r = c.get("/metrics")
    assert r.status_code == 403 and r.json()["error"]["code"] == "metrics_not_configured"
    assert "HOOKAUDIT_METRICS_TOKEN" in r.json()["error"]["message"]
    assert "hookaudit_" not in r.text


def test_metrics_public_is_an_explicit_opt_out(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(metrics_token=None, metrics_public=True)) as c:
        assert c.get("/metrics").status_code == 200


def test_a_metrics_token_is_required_even_when_public_is_set(make_app):
    from fastapi.testclient import TestClient

    with TestClient(make_app(metrics_token="s3cret", metrics_public=True)) as c:
        assert c.get("/metrics").status_code == 401


def test_a_retried_batch_counts_as_duplicates(client, host_a):
    events = make_chain(host_a.name, 3)
    post_events(client, host_a, events)
    post_events(client, host_a, events)  # the forwarder did not see the first answer
    m = scrape(client)
    assert m[("hookaudit_events_duplicate_total", frozenset())] == 3
    assert m[("hookaudit_ingest_batch_events_count", frozenset())] == 2

"""Alerts end to end: ingest -> listener -> worker -> a real HTTP receiver on loopback."""

import time

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.factories import make_chain, post_events
from tests.ops.receiver import Receiver

# group_wait is what a burst posted in several batches must fit in: generous, because a loaded
# CI machine can take seconds between two requests; the tests wait for deliveries, not for it
GROUP_WAIT_S = 2.0
FAST = {
    "alert_group_wait_s": GROUP_WAIT_S,
    "alert_window_s": 120,
    "alert_backoff_s": 0.05,
    "alert_timeout_s": 0.5,
    "alert_max_attempts": 5,
    "alert_silent_after_s": 0,
}


@pytest.fixture
def receiver():
    # first attempt: HTTP 500; second: no answer within the timeout; then it recovers
    with Receiver(["fail", "timeout"], hang_s=1.5) as r:
        yield r


@pytest.fixture
def settings(db_url, receiver) -> Settings:
    return Settings(
        database_url=db_url, secret_key="test-secret", webhook_urls=receiver.url, **FAST
    )


def aborted_burst(host: str, n: int) -> list[dict]:
    return make_chain(
        host,
        n,
        ops=("prepare",),
        outcome="aborted",
        exit_code=1,
        reason="hook exit 1: bridge br9 missing",
    )


def test_a_burst_of_aborts_arrives_once_after_failure_and_timeout(client, host_a, admin, receiver):
    events = aborted_burst(host_a.name, 12)
    for i in range(0, 12, 4):  # three batches of one burst
        assert post_events(client, host_a, events[i : i + 4]).status_code == 200
    [alert] = receiver.wait_for(1, timeout=60)
    time.sleep(1.0)  # anything else that was going to arrive, would have by now
    assert len(receiver.delivered) == 1
    assert (alert["kind"], alert["host"], alert["count"]) == ("aborted", "host-a", 12)
    assert receiver.requests == ["fail", "timeout", "ok"]
    [row] = admin.client.get("/api/v1/alerts/deliveries").json()["items"]
    assert (row["status"], row["attempts"], row["count"]) == ("delivered", 3, 12)


def test_ok_events_send_nothing(client, host_a, receiver):
    assert post_events(client, host_a, make_chain(host_a.name, 5)).status_code == 200
    time.sleep(GROUP_WAIT_S + 1.0)  # an alert, had one been due, would have been sent by now
    assert receiver.requests == []


def test_send_test_is_admin_only_and_delivered(client, admin, viewer, receiver):
    assert viewer.client.post("/api/v1/alerts/test").status_code == 403
    resp = admin.client.post("/api/v1/alerts/test")
    assert resp.status_code == 202 and len(resp.json()["queued"]) == 1
    [alert] = receiver.wait_for(1)
    assert alert["test"] is True and alert["kind"] == "test"


def test_two_app_processes_send_a_shared_burst_once(make_app, host_a, receiver):
    """Two apps on one database (as two workers): each sees half the burst, one alert goes out."""
    events = aborted_burst(host_a.name, 6)
    with TestClient(make_app()) as c2, TestClient(make_app()) as c1:
        assert post_events(c1, host_a, events[:3]).status_code == 200
        assert post_events(c2, host_a, events[3:]).status_code == 200
        receiver.wait_for(1, timeout=60)
        time.sleep(GROUP_WAIT_S + 0.5)
    assert len(receiver.delivered) == 1


def test_a_silent_host_is_reported_once(make_app, host_a, receiver, app):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from app.models import Host

    with app.state.db.session(write=True) as s:  # last heard of 20 minutes ago
        s.execute(
            update(Host).values(
                last_seen_at=datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
            )
        )
    receiver.script.clear()
    with TestClient(make_app(alert_silent_after_s=4)):   # checks every second
        [alert] = receiver.wait_for(1)
        time.sleep(2.5)  # further checks run; the same silence is not reported again
    assert len(receiver.delivered) == 1
    assert (alert["kind"], alert["host"]) == ("host_silent", "host-a")

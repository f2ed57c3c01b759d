"""A duplicate MAC that appears and disappears is alerted through the webhooks, twice: when
it starts and when it ends (the facts pass runs in the app, as in production)."""
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.facts.store import Fleet, guest_xml
from tests.ops.receiver import Receiver

MAC = "52:54:00:ab:cd:ef"


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def settings(db_url, receiver) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret", webhook_urls=receiver.url,
                    alert_group_wait_s=0.2, alert_window_s=1, alert_silent_after_s=0,
                    facts_pass_interval_s=0.2)


def test_a_duplicate_mac_alerts_when_it_starts_and_when_it_ends(app, host_a, host_b, receiver):
    # Recent times: a conflict older than a day (a backfill) is recorded but not alerted.
    minute0 = (datetime.now(UTC) - timedelta(minutes=30) - datetime(2026, 11, 25, 12, tzinfo=UTC)
               ).total_seconds() / 60
    with TestClient(app) as client:
        fleet = Fleet(client, {"host-a": host_a, "host-b": host_b})
        fleet.boot("host-a", "web1", minute0, guest_xml("web1", mac=MAC))
        fleet.boot("host-b", "web2", minute0 + 5, guest_xml("web2", mac=MAC))
        [started] = receiver.wait_for(1)
        fleet.shutdown("host-b", "web2", minute0 + 8, guest_xml("web2", mac=MAC))
        ended = receiver.wait_for(2)[1]
    assert (started["kind"], started["guest"]) == ("conflict", f"mac {MAC}")
    assert [s["state"] for s in started["samples"]] == ["started"]
    assert [s["state"] for s in ended["samples"]] == ["ended"]
    assert ended["samples"][0]["end"] is not None and "web" not in started["host"]

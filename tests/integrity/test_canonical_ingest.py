"""One canonical form, enforced at ingest: the host hashed started_at's exact bytes, so the
server refuses (422, naming the field) every other spelling of the instant."""
import pytest

from app.services.verify import verify_all
from tests.factories import make_event, post_events

NOT_CANONICAL = [
    "2026-11-25T18:13:46Z",               # no microseconds
    "2026-11-25T18:13:46.123Z",           # milliseconds
    "2026-11-25T18:13:46.123456+00:00",   # offset instead of Z
    "2026-11-25 18:13:46.123456Z",        # a space instead of T
    "20261125T181346.123456Z",            # basic format
]


@pytest.mark.parametrize("started_at", NOT_CANONICAL)
def test_non_canonical_started_at_is_refused_with_the_field_named(client, host_a, started_at):
    r = post_events(client, host_a, [make_event(host="host-a", started_at=started_at)])
    assert r.status_code == 422, r.text
    [detail] = r.json()["error"]["details"]
    assert detail["field"] == "started_at"
    assert "not canonical" in detail["message"] and "2026-11-25T18:13:46.123456Z" in \
        detail["message"]


def test_canonical_started_at_is_stored_and_verifies(app, client, host_a):
    event = make_event(host="host-a", started_at="2026-11-25T18:13:46.000000Z")
    assert post_events(client, host_a, [event]).status_code == 200
    assert verify_all(app.state.db)[0]["ok"]


def test_a_refused_event_in_a_batch_stores_nothing(app, client, host_a):
    good = make_event(host="host-a")
    bad = make_event(host="host-a", seq=2, prev_hash=good["hash"],
                     started_at="2026-11-25T18:13:47Z")
    r = post_events(client, host_a, [good, bad])
    assert r.status_code == 422 and r.json()["error"]["details"][0]["index"] == 1
    assert verify_all(app.state.db)[0]["events"] == 0

"""The guest page: default range fits the guest's activity, calls grouped per boot with a
caption, migrate rows naming source and destination."""
from datetime import datetime, timedelta, timezone

import pytest

from app.services.guests import group_boots
from app.web.guest_view import boot_caption, calls_by_boot
from tests.dashboard.seeding import WEB_UUID, chain, fleet, migration_story
from tests.factories import post_events

T = datetime(2026, 12, 7, 18, 45, 54)


def ev(host, op, s, outcome="ok", extra="-", subop="begin"):
    return {"id": s, "event_id": f"e-{host}-{op}-{s}", "host": host, "driver": "qemu", "op": op,
            "subop": subop, "extra": extra, "outcome": outcome,
            "started_at": T + timedelta(seconds=s)}


@pytest.mark.parametrize("events, expected", [
    # a plain boot that ended with a shutdown (qemu release's extra)
    ([ev("a", "prepare", 0), ev("a", "start", 1), ev("a", "started", 2),
      ev("a", "stopped", 60, subop="end"), ev("a", "release", 61, extra="shutdown", subop="end")],
     ["boot on a 18:45:54–18:46:55, ended by shutdown"]),
    # a boot migrated away: the source's boot names the destination, the destination's the source
    ([ev("a", "prepare", 0), ev("a", "started", 2), ev("b", "migrate", 137),
      ev("b", "prepare", 138), ev("b", "started", 139),
      ev("a", "release", 140, extra="migrated", subop="end")],
     ["boot on a 18:45:54–18:48:14, ended by migration → b",
      "boot on b 18:48:11–running, began by migration from a"]),
    # host c died with the guest running (no release), it was started on a, then migrated to
    # b: the source is a, the boot opened last, not c's stale one
    ([ev("c", "prepare", 0), ev("c", "started", 1), ev("a", "prepare", 50),
      ev("a", "started", 51), ev("b", "migrate", 60), ev("b", "prepare", 61),
      ev("a", "release", 70, extra="migrated", subop="end")],
     ["boot on c 18:45:54–running", "boot on a 18:46:44–18:47:04, ended by migration → b",
      "boot on b 18:46:54–running, began by migration from a"]),
    # a refused start (qemu: stopped and release have not come yet): no end time, no "running"
    ([ev("a", "prepare", 0, outcome="aborted")], ["boot on a 18:45:54, aborted"]),
])
def test_boot_captions(events, expected):
    boots = group_boots(events)
    assert [boot_caption(b, boots) for b in boots] == expected


def test_calls_by_boot_is_newest_boot_first_and_names_migration_hosts():
    events = [ev("a", "prepare", 0), ev("b", "migrate", 10), ev("b", "prepare", 11)]
    boots = group_boots(events)
    summaries = [dict(e, started_at="x") for e in reversed(events)]
    groups = calls_by_boot(boots, summaries)
    assert [g["caption"].split(" ")[2] for g in groups] == ["b", "a"]
    migrate = groups[0]["events"][-1]
    assert migrate["op"] == "migrate" and migrate["migration"] == {"source": "a",
                                                                   "destination": "b"}


def test_guest_page_defaults_to_the_guests_own_activity(seed, viewer_client):
    old = datetime.now(timezone.utc) - timedelta(days=20)
    seed(chain("host-a", [{"op": op, "object": "web-01", "domain_uuid": WEB_UUID}
                          for op in ("prepare", "start", "started")], start=old))
    html = viewer_client.get(f"/guests/{WEB_UUID}").text
    # a 24 h default would show none of these month-old calls
    assert html.count('<tr id="ev-') == 3 and 'aria-current="true">its activity<' in html


def test_guest_page_groups_calls_per_boot_with_migration(client, viewer_client, host_a,
                                                          host_b):
    a_events = fleet("host-a")
    assert post_events(client, host_a, a_events).status_code == 200
    a_more, b_events = migration_story(a_events)
    assert post_events(client, host_b, b_events).status_code == 200
    assert post_events(client, host_a, a_more).status_code == 200
    html = viewer_client.get(f"/guests/{WEB_UUID}").text
    assert html.count('class="boot-caption') == 2
    assert ", ended by migration → host-b" in html and "began by migration from host-a" in html
    assert '<span class="migration">host-a → host-b</span>' in html


def seed_migration(client, host_a, host_b):
    a_events = fleet("host-a")
    assert post_events(client, host_a, a_events).status_code == 200
    a_more, b_events = migration_story(a_events)
    assert post_events(client, host_b, b_events).status_code == 200
    return b_events


def test_migrated_filter_lists_only_guests_that_migrated(client, admin, host_a, host_b):
    b_events = seed_migration(client, host_a, host_b)
    migrated = admin.client.get("/api/v1/guests", params={"migrated": "true"}).json()["items"]
    assert [g["domain_uuid"] for g in migrated] == [WEB_UUID]
    assert migrated[0]["migrated_at"] == b_events[0]["started_at"]
    never = admin.client.get("/api/v1/guests", params={"migrated": "false"}).json()["items"]
    assert WEB_UUID not in {g["domain_uuid"] for g in never} and len(never) >= 3
    assert admin.client.get("/api/v1/guests", params={"migrated": "maybe"}).status_code == 422


def test_a_refused_migration_does_not_count(seed, admin):
    seed(chain("host-a", [{"op": "migrate", "object": "web-01", "domain_uuid": WEB_UUID,
                           "outcome": "aborted", "exit_code": 1}]))
    assert admin.client.get("/api/v1/guests", params={"migrated": "true"}).json()["items"] == []


def test_guests_page_has_the_migrated_filter(client, viewer_client, host_a, host_b):
    seed_migration(client, host_a, host_b)
    html = viewer_client.get("/guests?migrated=true").text
    assert 'id="migrated-filter"' in html and '<option value="true" selected>' in html
    assert html.count('<a href="/guests/') == 1 and WEB_UUID in html

"""Heartbeat history: every beat kept, merged per 10 minutes after 48 hours by the retention
run, pruned with the events; outages from the gaps; the bundle report and libvirt stored."""
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.models import Host, HostHeartbeat
from app.services import heartbeats, retention
from app.services.heartbeats import Outage, outages
from app.timeutil import utcnow


def beat(client, host, **fields):
    r = client.post("/api/v1/heartbeat", json={"host": host.name, **fields}, headers=host.headers)
    assert r.status_code == 200, r.text


def add_rows(app, host_name: str, times: list[datetime], **values) -> None:
    """History rows as heartbeats at ``times`` would have left them (time is not ours to move)."""
    with app.state.db.session(write=True) as s:
        host_id = s.scalar(select(Host.id).where(Host.name == host_name))
        for i, at in enumerate(times):
            row = {"spool_depth": i, "oldest_unsent_age_s": float(i), "parked": 0, **values}
            s.add(HostHeartbeat(host_id=host_id, at=at, until=at, beats=1, bucketed=False, **row))


def rows(app) -> list[HostHeartbeat]:
    with app.state.db.session() as s:
        found = list(s.scalars(select(HostHeartbeat).order_by(HostHeartbeat.at)))
        s.expunge_all()
        return found


def test_each_heartbeat_is_kept_as_a_history_row(app, client, host_a):
    beat(client, host_a, spool_depth=3, oldest_unsent_age_s=12.5, parked=1)
    beat(client, host_a, spool_depth=0, oldest_unsent_age_s=0)
    kept = rows(app)
    assert [(r.spool_depth, r.oldest_unsent_age_s, r.parked, r.beats) for r in kept] == [
        (3, 12.5, 1, 1), (0, 0.0, None, 1)]


def test_bundle_refusal_and_libvirt_reach_the_hosts_api(app, client, host_a, admin):
    beat(client, host_a, bundle_refused="bundle refused: signature by an unknown key",
         bundle_signer="ops-2026", bundle_serial=41, bundle_warning=None,
         libvirt_version="10.0.0", libvirt_daemon="split")
    host = admin.client.get("/api/v1/hosts").json()[0]
    assert host["bundle"] == {"refused": "bundle refused: signature by an unknown key",
                              "signer": "ops-2026", "serial": 41, "warning": None}
    assert host["libvirt"] == {"version": "10.0.0", "daemon": "split"}
    assert rows(app)[-1].bundle_refused.startswith("bundle refused")


def test_a_later_good_heartbeat_clears_the_refusal_but_keeps_libvirt(client, host_a, admin):
    beat(client, host_a, bundle_refused="bundle refused: rollback", libvirt_version="9.0.0")
    beat(client, host_a, bundle_signer="ops-2026")
    host = admin.client.get("/api/v1/hosts/host-a").json()
    assert host["bundle"]["refused"] is None and host["libvirt"]["version"] == "9.0.0"


def test_a_very_long_refusal_is_cut_not_refused(app, client, host_a):
    beat(client, host_a, bundle_refused="x" * 100_000)
    assert len(rows(app)[-1].bundle_refused) == 65536


def test_downsample_merges_rows_older_than_48h_per_10_minutes(app, host_a):
    now = datetime(2026, 12, 7, 12, 0, 0)
    old = datetime(2026, 12, 4, 10, 0, 0)           # 74 h before now
    old_times = [old + timedelta(seconds=30 * i) for i in range(40)]   # 20 minutes: 2 buckets
    recent = [now - timedelta(hours=1) + timedelta(seconds=30 * i) for i in range(5)]
    add_rows(app, "host-a", old_times + recent)
    removed = heartbeats.downsample(app.state.db, now)
    kept = rows(app)
    assert removed == 38 and len(kept) == 2 + 5
    first, second = kept[0], kept[1]
    assert (first.at, first.until, first.beats, first.bucketed) == (
        old_times[0], old_times[19], 20, True)
    assert (second.at, second.until, second.beats) == (old_times[20], old_times[39], 20)
    assert (first.spool_depth, second.spool_depth) == (19, 39)      # the worst in the bucket
    assert [r.beats for r in kept[2:]] == [1] * 5 and not any(r.bucketed for r in kept[2:])


def test_downsample_joins_a_bucket_cut_between_batches(app, host_a, monkeypatch):
    monkeypatch.setattr(heartbeats, "BATCH", 7)
    start = datetime(2026, 12, 1, 0, 0, 0)
    add_rows(app, "host-a", [start + timedelta(seconds=30 * i) for i in range(20)])
    heartbeats.downsample(app.state.db, datetime(2026, 12, 7))
    assert [(r.beats, r.spool_depth) for r in rows(app)] == [(20, 19)]


def test_downsample_twice_changes_nothing_more(app, host_a):
    start = datetime(2026, 12, 1, 0, 0, 0)
    add_rows(app, "host-a", [start + timedelta(minutes=4 * i) for i in range(10)])
    heartbeats.downsample(app.state.db, datetime(2026, 12, 7))
    first = [(r.at, r.until, r.beats) for r in rows(app)]
    assert heartbeats.downsample(app.state.db, datetime(2026, 12, 7)) == 0
    assert [(r.at, r.until, r.beats) for r in rows(app)] == first
    assert sum(b for _, _, b in first) == 10 and len(first) == 4    # 0-8, 12-16, 20-28, 32-36


def test_retention_run_downsamples_and_prunes_the_history(app, host_a, settings):
    now = utcnow()
    add_rows(app, "host-a", [now - timedelta(days=40), now - timedelta(days=40, seconds=-30),
                             now - timedelta(days=3), now - timedelta(days=3, seconds=-30),
                             now - timedelta(minutes=1)])
    retention.prune(app.state.db, retention.plan_from_settings(settings, days=30))
    kept = rows(app)
    assert [r.beats for r in kept] in ([2, 1], [1, 1, 1])  # the pair may straddle a bucket
    assert all(r.at > now - timedelta(days=30) for r in kept)


def test_a_dry_run_leaves_the_history_alone(app, host_a, settings):
    add_rows(app, "host-a", [utcnow() - timedelta(days=40)])
    retention.prune(app.state.db, retention.plan_from_settings(settings, days=30, dry_run=True))
    assert len(rows(app)) == 1


T0 = datetime(2026, 12, 7, 10, 0, 0)


def row(start_s: float, end_s: float | None = None) -> HostHeartbeat:
    end_s = start_s if end_s is None else end_s
    return HostHeartbeat(at=T0 + timedelta(seconds=start_s), until=T0 + timedelta(seconds=end_s))


@pytest.mark.parametrize("beats, now_s, expected", [
    # steady 30 s beats up to now: no outage
    ([row(0), row(30), row(60)], 70, []),
    # a 10-minute silence between two beats (threshold 300 s): one closed outage
    ([row(0), row(630)], 640, [(0, 630)]),
    # silent since the last beat: an ongoing outage, no end
    ([row(0), row(30)], 1000, [(30, None)]),
    # downsampled rows: the gap counts from the last beat of one row to the first of the next
    ([row(0, 590), row(600, 1190)], 1200, []),
    ([row(0, 100), row(600, 1190)], 1200, [(100, 600)]),
    # exactly the threshold is not an outage yet
    ([row(0), row(300)], 300, []),
])
def test_outages_are_silences_longer_than_the_threshold(beats, now_s, expected):
    found = outages(beats, T0 + timedelta(seconds=now_s), 300)
    as_s = [((o.start - T0).total_seconds(), None if o.end is None else
             (o.end - T0).total_seconds()) for o in found]
    assert as_s == expected
    assert all(isinstance(o, Outage) for o in found)


def test_metrics_say_how_old_the_backlog_is_and_whether_the_bundle_was_refused(
        app, client, host_a, host_b):
    from tests.fixtures_app import METRICS_HEADERS
    from tests.rollout.test_server import metric

    beat(client, host_a, spool_depth=5, bundle_refused="bundle refused: unknown signer")
    beat(client, host_b, spool_depth=0)
    with app.state.db.session(write=True) as s:   # host-a went silent an hour ago
        s.get(Host, s.scalar(select(Host.id).where(Host.name == "host-a"))).hb_at = \
            utcnow() - timedelta(hours=1)
    text = client.get("/metrics", headers=METRICS_HEADERS).text
    assert metric(text, "hookaudit_host_heartbeat_age_seconds", host="host-a") >= 3600
    assert metric(text, "hookaudit_host_heartbeat_age_seconds", host="host-b") < 3600
    assert metric(text, "hookaudit_host_bundle_refused", host="host-a") == 1
    assert metric(text, "hookaudit_host_bundle_refused", host="host-b") == 0

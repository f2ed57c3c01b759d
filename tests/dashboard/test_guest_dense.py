"""A busy guest's page: past ``timeline_dense_calls`` calls in the range the picture is counted
per host and bucket in the database, and the list groups the newest calls by boot
(app/services/guests.py ``recent_boots``, ``guest_density``).

The boots of the newest calls must say what the whole range's grouping says of the same
calls: random lifecycles across three hosts (migrations, refusals, kills, reconnects, a host
that dies with the guest running) are stored through the ingest API, and for window sizes from
one call to all of them each boot is compared with the boot of the whole history holding the
same calls."""
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from app.services.guests import (count_calls, get_guest, guest_boots, guest_density,
                                 recent_boots)
from app.timeutil import as_naive_utc
from tests.factories import chain_of, post_events

UUID = "6c3f0d1e-8a2b-4c5d-9e7f-0a1b2c3d4e5f"
HOSTS = ("host-a", "host-b", "host-c")


def lifecycle(rng: random.Random, boots: int, dying: bool) -> list[dict]:
    """(host, op, subop, extra, outcome) specs of one guest in time order, one every few s."""
    out, now = [], datetime.now(timezone.utc) - timedelta(days=3)
    driver = rng.choice(["qemu", "libxl"])

    def call(host, op, outcome="ok", extra="-"):
        nonlocal now
        now += timedelta(seconds=rng.randint(1, 40))
        subop = "end" if op in ("stopped", "release") else "begin"
        out.append({"host": host, "op": op, "subop": subop, "extra": extra, "outcome": outcome,
                    "exit_code": 0 if outcome == "ok" else 1, "driver": driver, "at": now})

    running = None
    for _ in range(boots):
        if running is None:
            running = rng.choice(HOSTS)
            if rng.random() < 0.15:                     # refused start
                call(running, "prepare", "aborted")
                if driver == "qemu":
                    call(running, "stopped"), call(running, "release", extra="failed")
                running = None
                continue
            call(running, "prepare"), call(running, "start"), call(running, "started")
            if rng.random() < 0.1:                      # a started hook killed it
                call(running, "started", "killed")
                call(running, "stopped"), call(running, "release", extra="failed")
                running = None
                continue
        action = rng.random()
        if action < 0.35:                               # migrate to another host
            dest = rng.choice([h for h in HOSTS if h != running])
            if rng.random() < 0.15:
                call(dest, "migrate", "aborted")        # refused: the guest stays
                continue
            call(dest, "migrate"), call(dest, "prepare"), call(dest, "start"),
            call(dest, "started")
            call(running, "stopped"), call(running, "release", extra="migrated")
            running = dest
        elif action < 0.45:
            call(running, "reconnect")
        elif action < 0.55 and dying:                   # the host dies: no stopped/release
            running = None
        else:
            call(running, "stopped"), call(running, "release", extra="shutdown")
            running = None
    return out


def store(client, hosts, specs) -> None:
    for name, cred in hosts.items():
        mine = [dict(s, object="busy", domain_uuid=UUID) for s in specs if s["host"] == name]
        for s in mine:
            del s["host"]
        if mine:
            r = post_events(client, cred, chain_of(name, mine))
            assert r.status_code == 200, r.text


def when(value):
    return None if value is None else as_naive_utc(value)


def check_window(full: list[dict], recent: list[dict], k: int, strict_sources: bool) -> None:
    ordered = sorted((ev for b in full for ev in b["events"]),
                     key=lambda ev: (ev["started_at"], ev["id"]))
    window = ordered[-k:]
    listed = sorted((ev for b in recent for ev in b["events"]),
                    key=lambda ev: (when(ev["started_at"]), ev["id"]))
    assert [ev["event_id"] for ev in listed] == [ev["event_id"] for ev in window]
    boot_of = {ev["event_id"]: b for b in full for ev in b["events"]}
    in_window = {ev["event_id"] for ev in window}
    window_hosts = {ev["host"] for ev in window}
    for b in recent:
        whole = boot_of[b["events"][0]["event_id"]]
        assert [ev["event_id"] for ev in b["events"]] == \
            [ev["event_id"] for ev in whole["events"] if ev["event_id"] in in_window]
        began_before = whole["events"][0]["event_id"] not in in_window
        assert bool(b.get("began_before")) == began_before
        assert (b["host"], when(b["ended_at"]), b["end_reason"]) == \
            (whole["host"], when(whole["ended_at"]), whole["end_reason"])
        if began_before:       # what it says of the unread start is never more than the whole
            assert b["status"] == whole["status"] or b["status"] in ("running", "ended")
        else:
            assert (when(b["started_at"]), b["via"], b["status"]) == \
                (when(whole["started_at"]), whole["via"], whole["status"])
        src = recent[b["migrated_from"]]["host"] if b["migrated_from"] is not None else None
        whole_src = full[whole["migrated_from"]]["host"] \
            if whole["migrated_from"] is not None else None
        if src is not None:
            assert src == whole_src
        elif strict_sources and not began_before and whole_src in window_hosts:
            pytest.fail(f"the window did not name the migration source {whole_src}")


@pytest.mark.parametrize("seed", range(6))
def test_recent_boots_say_what_the_whole_history_says(app, client, make_host, seed):
    rng = random.Random(seed)
    dying = seed % 2 == 1
    hosts = {name: make_host(name) for name in HOSTS}
    specs = lifecycle(rng, 25, dying)
    store(client, hosts, specs)
    with app.state.db.session() as s:
        guest = get_guest(s, UUID)
        full = guest_boots(s, guest)["boots"]
        n = sum(len(b["events"]) for b in full)
        assert n == len(specs) == count_calls(s, UUID, None, None)
        sizes = sorted({1, 2, 3, 5, 8, 13, 21, 34, n // 2, n - 1, n, n + 5} - {0})
        for k in sizes:
            recent = recent_boots(s, guest, k, None, None)["boots"]
            check_window(full, recent, min(k, n), strict_sources=not dying)


def test_density_counts_every_call_per_host_and_outcome(app, client, make_host):
    rng = random.Random(99)
    hosts = {name: make_host(name) for name in HOSTS}
    specs = lifecycle(rng, 40, False)
    store(client, hosts, specs)
    first, last = specs[0]["at"], specs[-1]["at"]
    since = first.replace(tzinfo=None) - timedelta(minutes=1)
    until = last.replace(tzinfo=None) + timedelta(minutes=1)
    with app.state.db.session() as s:
        d = guest_density(s, UUID, since, until, max_buckets=30)
    want = Counter((sp["host"], sp["outcome"]) for sp in specs)
    got = Counter()
    for lane in d["hosts"]:
        for b in lane["buckets"]:
            for outcome, n in b["counts"].items():
                got[(lane["host"], outcome)] += n
    assert +got == want and d["total"] == len(specs)
    # each call in the bucket its time falls in
    lane = next(lane for lane in d["hosts"] if lane["host"] == specs[0]["host"])
    at = specs[0]["at"].replace(tzinfo=None)
    bucket = next(b for b in lane["buckets"]
                  if datetime.fromisoformat(b["start"][:-1]) <= at
                  < datetime.fromisoformat(b["end"][:-1]))
    assert bucket["counts"][specs[0]["outcome"]] >= 1
    # lanes in order of each host's first call
    firsts = list(dict.fromkeys(sp["host"] for sp in specs))
    assert [lane["host"] for lane in d["hosts"]] == firsts


class TestBusyGuestPage:
    @pytest.fixture
    def app(self, make_app):        # every guest with more than 10 calls in range is "busy"
        return make_app(timeline_dense_calls=10)

    def test_draws_counts_and_lists_the_newest_boots(self, client, make_host, viewer,
                                                      viewer_client):
        hosts = {name: make_host(name) for name in HOSTS}
        specs = lifecycle(random.Random(7), 12, False)
        store(client, hosts, specs)
        html = viewer_client.get(f"/guests/{UUID}").text
        assert 'id="dense-note"' in html and f"{len(specs)} calls in this range" in html
        assert 'class="timeline density"' in html
        assert html.count('<tr id="ev-') == min(len(specs), 200)
        # a column opens the page narrowed to its span
        link = html.split('<a href="?since=', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        narrowed = viewer_client.get(f"/guests/{UUID}?since={link}")
        assert narrowed.status_code == 200 and "Some filters" not in narrowed.text
        assert narrowed.text.count('<tr id="ev-') >= 1
        api = viewer.client.get(f"/api/v1/guests/{UUID}/density").json()
        assert api["total"] == len(specs)
        twin = html.split('<a href="/api/v1/guests/', 2)[2].split('"', 1)[0]
        assert "/density?since=" in twin
        same = viewer.client.get("/api/v1/guests/" + twin.replace("&amp;", "&")).json()
        assert same["total"] == len(specs)

    def test_bad_range_parameters_say_so(self, client, make_host, viewer, viewer_client):
        store(client, {"host-a": make_host("host-a")},
              [dict(sp, host="host-a") for sp in lifecycle(random.Random(3), 2, False)])
        bad = viewer_client.get(f"/guests/{UUID}?since=yesterday-ish&frob=1").text
        assert "Some filters were not understood" in bad and "frob" in bad
        whole = viewer_client.get(f"/guests/{UUID}?range=all")
        assert whole.status_code == 200 and 'id="dense-note"' in whole.text
        backwards = viewer_client.get(f"/guests/{UUID}?since=-1h&until=-2h").text
        assert "since must be before until" in backwards
        r = viewer.client.get(f"/api/v1/guests/{UUID}/density?since=-1h&until=-2h")
        assert r.status_code == 422

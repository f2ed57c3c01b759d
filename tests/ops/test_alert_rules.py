"""Which events notify: table-driven over the ingest-listener summary."""

from datetime import UTC, datetime, timedelta

import pytest

from app.alerts.rules import KINDS, event_signal, signals_from_summary, silent_host_signals

DENY = {"rule_id": "no-pci", "mode": "enforce", "verdict": "deny"}
WARN_DENY = {"rule_id": "no-pci", "mode": "warn", "verdict": "deny"}


def ev(**kw):
    base = {
        "event_id": "e1",
        "seq": 1,
        "driver": "libxl",
        "object": "web1",
        "op": "prepare",
        "subop": "begin",
        "outcome": "ok",
        "reason": None,
        "domain_uuid": "u-1",
        "started_at": "2026-11-25T10:00:00.000000Z",
        "policy": None,
    }
    return base | kw


@pytest.mark.parametrize(
    "event, kind",
    [
        (ev(), None),  # a normal call is silent
        (ev(outcome="aborted", reason="exit 1"), "aborted"),  # start refused
        (ev(outcome="killed"), "killed"),  # running guest destroyed
        (ev(outcome="failed_ignored"), None),  # libvirt ignored the failure
        (ev(outcome="timed_out"), None),  # not in the notify list
        (
            ev(outcome="aborted", policy={"decisions": [DENY]}),
            "policy_denied",
        ),  # one fact, one alert
        (ev(policy={"decisions": [WARN_DENY]}), None),  # warn-mode denials do not notify
    ],
)
def test_event_signal_kind(event, kind):
    signal = event_signal("dom0-a", event)
    assert (signal.kind if signal else None) == kind


def test_signal_groups_by_domain_uuid_then_object_name():
    assert event_signal("h", ev(outcome="aborted")).key == ("aborted", "h", "u-1")
    assert event_signal("h", ev(outcome="aborted", domain_uuid=None)).key == (
        "aborted",
        "h",
        "web1",
    )


def test_gaps_and_chain_problems_become_host_wide_signals():
    summary = {
        "host": "h",
        "events": [],
        "gaps": [[3, 7]],
        "chain_problems": [{"event_id": "e9", "seq": 9, "problem": "bad hash"}],
    }
    got = {(s.kind, s.guest): s.detail for s in signals_from_summary(summary)}
    assert got[("seq_gap", "-")] == {"from_seq": 3, "to_seq": 7}
    assert got[("chain_failure", "-")]["seq"] == 9


def test_disabled_kinds_do_not_notify():
    summary = {"host": "h", "events": [ev(outcome="aborted")], "gaps": [[1, 2]]}
    kinds = tuple(k for k in KINDS if k != "aborted")
    assert [s.kind for s in signals_from_summary(summary, kinds)] == ["seq_gap"]


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "last_seen, silent_after, silent",
    [
        (NOW - timedelta(seconds=30), 300, False),  # fresh heartbeat
        (NOW - timedelta(seconds=301), 300, True),  # past the limit
        ((NOW - timedelta(seconds=900)).replace(tzinfo=None), 300, True),  # naive UTC from SQLite
        (None, 300, False),  # never seen: not installed yet
        (NOW - timedelta(days=9), 0, False),  # rule switched off
    ],
)
def test_silent_host_rule(last_seen, silent_after, silent):
    got = silent_host_signals([("dom0-a", last_seen)], NOW, silent_after)
    assert bool(got) == silent

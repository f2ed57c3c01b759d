"""Which facts notify: pure functions from an ingest summary (or host heartbeats) to signals.

A *signal* is one notifiable fact ("guest web1 on host dom0-a was aborted"). Signals are grouped
into alerts by ``grouping.Grouper`` -- one alert per burst, never one per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.timeutil import iso

# The kinds an operator can switch on or off with HOOKAUDIT_ALERT_KINDS.
KINDS = ("aborted", "killed", "policy_denied", "seq_gap", "chain_failure", "host_silent",
         "conflict")

# Outcomes that notify: the guest operation was refused, or a running guest was destroyed.
NOTIFY_OUTCOMES = {"aborted": "aborted", "killed": "killed"}


@dataclass(frozen=True)
class Signal:
    """One notifiable fact. ``key`` is what alerts are grouped and de-duplicated by."""

    kind: str
    host: str
    guest: str  # domain UUID (stable across renames) or object name; "-" for host-wide facts
    detail: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.host, self.guest)


def _guest(event: dict) -> str:
    return event.get("domain_uuid") or event.get("object") or "-"


def _enforced_denials(event: dict) -> list[dict]:
    """Policy decisions that refused the operation (warn/dryrun denials do not notify)."""
    decisions = (event.get("policy") or {}).get("decisions") or []
    return [d for d in decisions if d.get("verdict") == "deny" and d.get("mode") == "enforce"]


def _event_detail(event: dict, **extra) -> dict:
    keys = ("event_id", "seq", "driver", "object", "op", "subop", "outcome", "reason", "started_at")
    return {k: event.get(k) for k in keys} | extra


def event_signal(host: str, event: dict) -> Signal | None:
    """The one signal an event raises, if any. A policy denial is reported as such, not also
    as the abort it caused: one fact, one alert."""
    denials = _enforced_denials(event)
    if denials:
        rules = [d.get("rule_id") for d in denials]
        return Signal("policy_denied", host, _guest(event), _event_detail(event, rules=rules))
    kind = NOTIFY_OUTCOMES.get(event.get("outcome"))
    if kind:
        return Signal(kind, host, _guest(event), _event_detail(event))
    return None


def signals_from_summary(summary: dict, kinds=KINDS) -> list[Signal]:
    """All signals of one committed ingest batch (the ``ingest_listeners`` summary)."""
    host = summary.get("host") or "-"
    out = [s for s in (event_signal(host, e) for e in summary.get("events") or []) if s]
    for gap in summary.get("gaps") or []:
        first, last = gap[0], gap[-1]
        out.append(Signal("seq_gap", host, "-", {"from_seq": first, "to_seq": last}))
    for problem in summary.get("chain_problems") or []:
        out.append(Signal("chain_failure", host, "-", dict(problem)))
    return [s for s in out if s.kind in kinds]


def conflict_signal(conflict: dict) -> Signal:
    """A conflict of the facts pass (app/services/facts_pass.py) that started or ended:
    grouped per key, so a duplicate MAC's start and end within a burst are one alert."""
    key = f"{conflict['kind']} {conflict['key']}"
    detail = dict(conflict, op=conflict["state"],
                  reason=f"{key} held by {' and '.join(conflict['guests'])}")
    return Signal("conflict", " ".join(conflict["hosts"]) or "-", key, detail)


def silent_host_signals(hosts, now: datetime, silent_after_s: float) -> list[Signal]:
    """Hosts whose last heartbeat (or ingest) is older than ``silent_after_s``.

    ``hosts`` is an iterable of ``(name, last_seen)``; a host never seen is not "silent"
    (it was never installed), and ``silent_after_s <= 0`` disables the rule.
    """
    if silent_after_s <= 0:
        return []
    out = []
    for name, last_seen in hosts:
        if last_seen is None:
            continue
        if last_seen.tzinfo is None:  # SQLite returns naive datetimes; they are stored as UTC
            last_seen = last_seen.replace(tzinfo=UTC)
        age = (now - last_seen).total_seconds()
        if age > silent_after_s:
            detail = {"last_seen": iso(last_seen), "silent_for_s": round(age)}
            out.append(Signal("host_silent", name, "-", detail))
    return out

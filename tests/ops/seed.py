"""A seeded store for retention tests: old and recent events, long-lived aborts, big XML."""

import random
from datetime import UTC, datetime, timedelta

from hookshim.event import GENESIS_HASH
from tests.factories import chain_of, domain_xml, post_events

NOW = datetime.now(UTC)


def big_xml(name: str, seed: int) -> str:
    """~16 KB of incompressible description, so freed space is measurable."""
    noise = random.Random(seed).randbytes(8000).hex()
    return domain_xml(name).replace("</domain>", f"<description>{noise}</description></domain>")


def chain(
    host: str, specs: list[dict], start_seq: int = 1, prev_hash: str = GENESIS_HASH
) -> list[dict]:
    """Linked events, one per spec (overrides: age_days, object, outcome, ...)."""
    return chain_of(host, [_aged(i, spec) for i, spec in enumerate(specs)], start_seq, prev_hash)


def _aged(i: int, spec: dict) -> dict:
    spec = dict(spec)
    name = spec.setdefault("object", "guest1")
    spec["at"] = NOW - timedelta(days=spec.pop("age_days"), seconds=-i)
    spec.setdefault("xml", big_xml(name, hash(name) & 0xFFFF))
    return spec


def seed_host(client, host, old: int = 30, recent: int = 10, aborts=(5, 12)) -> list[dict]:
    """``old`` events 60 days old over 7 guests (7 XML bodies), ``recent`` 1 day old on a
    guest of their own; the seqs in ``aborts`` (1-based) are aborted."""
    specs = [{"age_days": 60, "object": f"old{i % 7}"} for i in range(old)]
    specs += [{"age_days": 1, "object": "fresh"} for _ in range(recent)]
    for seq in aborts:
        specs[seq - 1].update(outcome="aborted", exit_code=1, reason="refused")
    events = chain(host.name, specs)
    for i in range(0, len(events), 20):
        assert post_events(client, host, events[i : i + 20]).status_code == 200
    return events

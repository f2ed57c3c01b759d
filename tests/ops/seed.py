"""A seeded store for retention tests: old and recent events, long-lived aborts, big XML."""

import random
from datetime import UTC, datetime, timedelta

from hookshim.event import GENESIS_HASH
from tests.factories import domain_xml, make_event, post_events

NOW = datetime.now(UTC)


def big_xml(name: str, seed: int) -> str:
    """~16 KB of incompressible description, so freed space is measurable."""
    noise = random.Random(seed).randbytes(8000).hex()
    return domain_xml(name).replace("</domain>", f"<description>{noise}</description></domain>")


def chain(
    host: str, specs: list[dict], start_seq: int = 1, prev_hash: str = GENESIS_HASH
) -> list[dict]:
    """Linked events, one per spec (overrides: age_days, object, outcome, ...)."""
    events = []
    for i, spec in enumerate(specs):
        spec = dict(spec)
        when = NOW - timedelta(days=spec.pop("age_days"), seconds=-i)
        name = spec.pop("object", "guest1")
        ev = make_event(
            host=host,
            seq=start_seq + i,
            prev_hash=prev_hash,
            started_at=when,
            object=name,
            xml=spec.pop("xml", big_xml(name, hash(name) & 0xFFFF)),
            shim={"version": "0.1.0", "hostname": host, "pid": 1},
            **spec,
        )
        events.append(ev)
        prev_hash = ev["hash"]
    return events


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

"""Realistic wire events for the benchmarks: corpus XML, lifecycle ops, some aborts and policy.

    events = host_chain("dom0-001", 5000, corpus_xml(corpus_dir()), guests_per_host=25)

Each guest keeps one XML body for its whole life (so prepare/start/started share a blob, as on
a real host); ~3% of calls abort (with a policy decision), stderr and adopted scripts as the
shim records them. Valid chains built with hookshim.event, like the shim does.
"""
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hookshim.event import GENESIS_HASH, chain_hash, xml_digest

REPO = Path(__file__).resolve().parent.parent
LIFECYCLE = ("prepare", "start", "started", "stopped", "release")


def corpus_dir() -> Path:
    """$HOOKAUDIT_CORPUS (a copy of libvirt's test-suite XML: more variety), else the
    project's own fixtures: the benches need nothing outside the repository."""
    env = os.environ.get("HOOKAUDIT_CORPUS")
    return Path(env) if env else REPO / "tests" / "fixtures" / "xml"


def corpus_xml(path: Path) -> list[str]:
    """Domain XML bodies of the corpus (network XML left out)."""
    files = sorted(p for p in path.rglob("*.xml") if "network" not in p.parts)
    return [p.read_text(encoding="utf-8") for p in files]


def uuid7(when: datetime, rng: random.Random) -> str:
    ms = int(when.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = ((ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62)
             | (rand & ((1 << 62) - 1)))
    return str(uuid.UUID(int=value))


def _event(host: str, seq: int, prev: str, when: datetime, guest: tuple, op: str,
           rng: random.Random) -> dict:
    name, duuid, xml = guest
    aborted = op == "prepare" and rng.random() < 0.03
    policy = None
    if aborted:
        policy = {"bundle_version": "b-2026-11-25", "decisions": [
            {"rule_id": "no-pci-passthrough", "mode": "enforce", "verdict": "deny",
             "message": "PCI passthrough is not allowed in prod", "error": None}]}
    ev = {
        "v": 1, "kind": "hook", "event_id": uuid7(when, rng), "host": host, "seq": seq,
        "prev_hash": prev, "hash": "", "driver": "libxl", "object": name, "op": op,
        "subop": "end" if op in ("stopped", "release") else "begin", "extra": "-",
        "domain_uuid": duuid, "started_at": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_ms": round(rng.uniform(2, 40), 3), "exit_code": 1 if aborted else 0,
        "outcome": "aborted" if aborted else "ok",
        "reason": "policy no-pci-passthrough: PCI passthrough is not allowed" if aborted else None,
        "stderr": "hook: refused by policy\n" if aborted else None, "xml": xml,
        "xml_sha256": xml_digest(xml), "xml_truncated": False, "output_xml": None,
        "output_xml_sha256": None, "redactions": 0, "policy": policy,
        "scripts": [{"path": "/etc/libvirt/hooks/libxl.d/10-network", "exit_code": 0,
                     "duration_ms": 1.5, "stderr": None, "timed_out": False}],
        "warnings": [], "dropped": None,
        "shim": {"version": "0.1.0", "hostname": host, "pid": 1000 + seq % 30000},
    }
    ev["hash"] = chain_hash(ev)
    return ev


def host_chain(host: str, n: int, xmls: list[str], guests_per_host: int = 25,
               start: datetime | None = None, seed: int = 0) -> list[dict]:
    """``n`` chained events of ``host``; its guests cycle through the lifecycle."""
    rng = random.Random(f"{host}/{seed}")
    start = start or datetime(2026, 11, 1, tzinfo=UTC)
    guests = [(f"{host}-vm{g:02d}", str(uuid.UUID(int=rng.getrandbits(128), version=4)),
               xmls[rng.randrange(len(xmls))]) for g in range(guests_per_host)]
    events, prev = [], GENESIS_HASH
    for i in range(n):
        guest = guests[(i // len(LIFECYCLE)) % len(guests)]
        when = start + timedelta(seconds=i * 7, microseconds=rng.randrange(10**6))
        ev = _event(host, i + 1, prev, when, guest, LIFECYCLE[i % len(LIFECYCLE)], rng)
        events.append(ev)
        prev = ev["hash"]
    return events

"""Valid, chained wire events built with hookshim.event (the contract), for any test.

    make_event(**overrides)              one event; hashed after the overrides are applied
    make_chain(host, n, **overrides)     n linked events seq 1..n (or from start_seq/prev_hash)
    post_events(client, host, events)    POST them to /api/v1/ingest with the host's token
"""
import uuid
from datetime import UTC, datetime, timedelta

from hookshim.event import GENESIS_HASH, chain_hash, xml_digest

DEFAULT_UUID = "6c0a1e44-9a4c-4a57-9c1c-1f0c2f7d1a01"
BASE_TIME = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
LIFECYCLE = ("prepare", "start", "started", "stopped", "release")


def domain_xml(name: str = "guest1", domain_uuid: str = DEFAULT_UUID) -> str:
    return (f"<domain type='xen'><name>{name}</name><uuid>{domain_uuid}</uuid>"
            "<memory unit='KiB'>262144</memory><os><type>hvm</type></os></domain>")


def event_id_at(when: datetime) -> str:
    """A time-ordered UUID (UUIDv7 layout) for ``when``."""
    ms = max(int(when.timestamp() * 1000), 0)   # before 1970 (a host clock at year 1): 0
    rand = uuid.uuid4().int & ((1 << 74) - 1)
    value = ((ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62)
             | (rand & ((1 << 62) - 1)))
    return str(uuid.UUID(int=value))


def iso(when: datetime) -> str:
    # isoformat, not strftime: glibc writes year 1 as "1", not "0001"
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_event(rehash: bool = True, **overrides) -> dict:
    """One valid event; ``started_at`` may be given as a datetime. ``rehash=False`` keeps the
    ``hash`` of the overrides (to build tampered events)."""
    when = overrides.pop("at", None) or BASE_TIME
    if isinstance(overrides.get("started_at"), datetime):
        when = overrides.pop("started_at")
    name = overrides.get("object", "guest1")
    duuid = overrides.get("domain_uuid", DEFAULT_UUID)
    event = {
        "v": 1, "kind": "hook", "event_id": event_id_at(when), "host": "host-a", "seq": 1,
        "prev_hash": GENESIS_HASH, "hash": "", "driver": "libxl", "object": name,
        "op": "prepare", "subop": "begin", "extra": "-", "domain_uuid": duuid,
        "started_at": iso(when), "duration_ms": 1.25, "exit_code": 0, "outcome": "ok",
        "reason": None, "stderr": None, "xml": domain_xml(name, duuid or DEFAULT_UUID),
        "xml_sha256": None, "xml_truncated": False, "output_xml": None,
        "output_xml_sha256": None, "redactions": 0, "policy": None, "scripts": [],
        "warnings": [], "dropped": None,
        "shim": {"version": "0.1.0", "hostname": "host-a", "pid": 4242},
    }
    event.update(overrides)
    if "xml_sha256" not in overrides:
        event["xml_sha256"] = xml_digest(event["xml"])
    if "output_xml_sha256" not in overrides:
        event["output_xml_sha256"] = xml_digest(event["output_xml"])
    if rehash or "hash" not in overrides:
        event["hash"] = chain_hash(event)
    return event


def chain_of(host: str, specs: list[dict], start_seq: int = 1, prev_hash: str = GENESIS_HASH,
             start: datetime = BASE_TIME, step: timedelta = timedelta(seconds=1)) -> list[dict]:
    """The one chain builder: linked events of ``host``, one per spec (make_event overrides;
    ``at`` a datetime or ISO string, else ``start`` + i * ``step``), seq start_seq.."""
    events = []
    for i, spec in enumerate(specs):
        spec = dict(spec)
        at = spec.pop("at", start + i * step)
        fields = {"host": host, "seq": start_seq + i, "prev_hash": prev_hash,
                  "started_at": datetime.fromisoformat(at) if isinstance(at, str) else at,
                  "shim": {"version": "0.1.0", "hostname": host, "pid": 4242}, **spec}
        events.append(make_event(**fields))
        prev_hash = events[-1]["hash"]
    return events


def make_chain(host: str, n: int, start_seq: int = 1, prev_hash: str = GENESIS_HASH,
               start: datetime = BASE_TIME, step: timedelta = timedelta(seconds=1),
               ops=LIFECYCLE, **overrides) -> list[dict]:
    """``n`` linked events of ``host``: seq start_seq.., ops cycling through ``ops``."""
    specs = [{"op": op, "subop": "end" if op in ("stopped", "release") else "begin",
              **overrides} for op in (ops[i % len(ops)] for i in range(n))]
    return chain_of(host, specs, start_seq, prev_hash, start, step)


def post_events(client, host, events: list[dict]):
    """POST ``events`` as one batch with ``host``'s token; returns the response."""
    return client.post("/api/v1/ingest", json={"events": events}, headers=host.headers)

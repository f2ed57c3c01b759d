"""A small, realistic fleet history for dashboard tests, built with tests/factories.py.

host-a: web-01 starts fine; db-02's start is refused by a policy (prepare aborted, with a
deny decision and stderr); a hostile guest name and an XML body containing ``</script>``.
Times are relative to now so the overview's 24 h window sees them.
"""
from datetime import datetime, timedelta, timezone

from hookshim.event import GENESIS_HASH
from tests.factories import make_event

WEB_UUID = "11111111-2222-4333-8444-555555555501"
DB_UUID = "11111111-2222-4333-8444-555555555502"
EVIL_UUID = "11111111-2222-4333-8444-555555555503"
EVIL_NAME = "<img src=x onerror=alert(1)>"
SCRIPT_XML = ("<domain type='xen'><name>db-02</name><uuid>" + DB_UUID + "</uuid>"
              "<description></script><script>alert('xml')</script></description>"
              "<devices><graphics type='vnc' passwd='[redacted]'/></devices></domain>")
DENY = {"bundle_version": "b-2026-11-25.1", "decisions": [
    {"rule_id": "no-pci-passthrough-prod", "mode": "enforce", "verdict": "deny",
     "message": "PCI passthrough is not allowed in prod", "error": None}]}


def chain(host: str, specs: list[dict], start_seq: int = 1, prev_hash: str = GENESIS_HASH,
          start: datetime | None = None) -> list[dict]:
    """Linked events of ``host``: one per spec (overrides of make_event), a second apart."""
    start = start or datetime.now(timezone.utc) - timedelta(hours=1)
    out = []
    for i, spec in enumerate(specs):
        ev = make_event(host=host, seq=start_seq + i, prev_hash=prev_hash,
                        started_at=spec.pop("at", start + timedelta(seconds=i)),
                        shim={"version": "0.1.0", "hostname": host, "pid": 4242}, **spec)
        out.append(ev)
        prev_hash = ev["hash"]
    return out


def boot(name: str, uuid: str) -> list[dict]:
    return [{"op": op, "subop": "begin", "object": name, "domain_uuid": uuid}
            for op in ("prepare", "start", "started")]


def fleet(host: str = "host-a") -> list[dict]:
    refused = {"op": "prepare", "subop": "begin", "object": "db-02", "domain_uuid": DB_UUID,
               "outcome": "aborted", "exit_code": 1, "reason": "policy: PCI passthrough is not allowed in prod",
               "stderr": "hookaudit: denied by no-pci-passthrough-prod </script>", "policy": DENY,
               "xml": SCRIPT_XML, "redactions": 1}
    return chain(host, boot("web-01", WEB_UUID) + [refused] + boot(EVIL_NAME, EVIL_UUID))


def later(host: str, after: list[dict], specs: list[dict]) -> list[dict]:
    """More events of ``host`` continuing the chain of ``after`` (for live-update tests)."""
    last = after[-1]
    return chain(host, specs, start_seq=last["seq"] + 1, prev_hash=last["hash"],
                 start=datetime.now(timezone.utc))

"""A small, realistic fleet history for dashboard tests, built with tests/factories.py.

host-a: web-01 starts fine; db-02's start is refused by a policy (prepare aborted, with a
deny decision and stderr); a hostile guest name and an XML body containing ``</script>``.
Times are relative to now so the overview's 24 h window sees them.
"""
from datetime import datetime, timedelta, timezone

from hookshim.event import GENESIS_HASH
from tests.factories import chain_of

WEB_UUID = "11111111-2222-4333-8444-555555555501"
DB_UUID = "11111111-2222-4333-8444-555555555502"
EVIL_UUID = "11111111-2222-4333-8444-555555555503"
EVIL_NAME = "<img src=x onerror=alert(1)>"
SCRIPT_XML = ("<domain type='xen'><name>db-02</name><uuid>" + DB_UUID + "</uuid>"
              "<description><![CDATA[</script><script>alert('xml')</script>]]></description>"
              "<devices><graphics type='vnc' passwd='[redacted]'/></devices></domain>")
DENY = {"bundle_version": "b-2026-11-25.1", "decisions": [
    {"rule_id": "no-pci-passthrough-prod", "mode": "enforce", "verdict": "deny",
     "message": "PCI passthrough is not allowed in prod", "error": None}]}


def chain(host: str, specs: list[dict], start_seq: int = 1, prev_hash: str = GENESIS_HASH,
          start: datetime | None = None) -> list[dict]:
    """Linked events of ``host``: one per spec (overrides of make_event), a second apart."""
    start = start or datetime.now(timezone.utc) - timedelta(hours=2)
    return chain_of(host, specs, start_seq, prev_hash, start)


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


def migration_story(a_events: list[dict], host_b: str = "host-b") -> tuple[list[dict], list[dict]]:
    """web-01 migrates host-a → host-b (the destination's migrate filter rewrites a disk path),
    then a guest on host-b is killed by a failing started hook. Returns (host-a, host-b) events."""
    now = datetime.now(timezone.utc)
    src = "<domain type='xen'><name>web-01</name><uuid>" + WEB_UUID + "</uuid>\n" \
          "  <devices>\n    <disk type='file'><source file='/old/images/web-01.img'/></disk>\n" \
          "  </devices>\n</domain>"
    dst = src.replace("/old/images/", "/srv/xen/images/")
    b = chain(host_b, [
        {"op": "migrate", "object": "web-01", "domain_uuid": WEB_UUID, "xml": src, "output_xml": dst,
         "at": now - timedelta(minutes=30)},
        *[{**e, "at": now - timedelta(minutes=30, seconds=-1 - i)} for i, e in enumerate(boot("web-01", WEB_UUID))],
        *[{**e, "at": now - timedelta(minutes=10)} for e in boot("batch-07", "11111111-2222-4333-8444-555555555507")[:2]],
        {"op": "started", "object": "batch-07", "domain_uuid": "11111111-2222-4333-8444-555555555507",
         "outcome": "killed", "exit_code": 1, "reason": "gpu-check: no free vGPU slot",
         "at": now - timedelta(minutes=9)},
    ])
    a = later("host-a", a_events, [
        {"op": "stopped", "subop": "end", "object": "web-01", "domain_uuid": WEB_UUID,
         "at": now - timedelta(minutes=29)},
        {"op": "release", "subop": "end", "object": "web-01", "domain_uuid": WEB_UUID,
         "extra": "migrated", "at": now - timedelta(minutes=29)},
    ])
    return a, b

"""Helpers shared by the hookshim tests (real files, real processes)."""
import os
import sys
from pathlib import Path

from hookshim.event import new_event_id, utc_timestamp, verify_event, GENESIS_HASH

REPO = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def hook_event(**overrides):
    """A minimal hook event as the hook builds it, before the spool seals it."""
    ev = {
        "v": 1, "kind": "hook", "event_id": new_event_id(), "host": "h1", "driver": "libxl",
        "object": "guest", "op": "prepare", "subop": "begin", "extra": "-",
        "domain_uuid": None, "started_at": utc_timestamp(), "duration_ms": 1.0,
        "exit_code": 0, "outcome": "ok", "reason": None, "stderr": None, "xml": "<domain/>",
        "xml_sha256": None, "xml_truncated": False, "output_xml": None,
        "output_xml_sha256": None, "redactions": 0, "policy": None, "scripts": [],
        "warnings": [], "dropped": None, "shim": {"version": "t", "hostname": "h1", "pid": 1},
    }
    ev.update(overrides)
    from hookshim.event import xml_digest

    ev["xml_sha256"] = xml_digest(ev["xml"])
    ev["output_xml_sha256"] = xml_digest(ev["output_xml"])
    return ev


def assert_chain(events):
    """Events (in seq order, starting at 1) are gapless and each links to the previous."""
    prev = GENESIS_HASH
    for expected_seq, ev in enumerate(events, 1):
        assert ev["seq"] == expected_seq
        assert verify_event(ev, prev) == []
        prev = ev["hash"]

"""Events that fill every shown column, and raw SQL edits made behind the app's back."""
from sqlalchemy import text

from tests.factories import make_chain

POLICY = {"bundle_version": "b-7", "decisions": [
    {"rule_id": "no-vnc-listen-any", "mode": "enforce", "verdict": "deny",
     "message": "VNC listens on 0.0.0.0", "error": None},
    {"rule_id": "tag-owner", "mode": "warn", "verdict": "allow", "message": None,
     "error": None}]}
SCRIPTS = [{"path": "/etc/libvirt/hooks/qemu.d/10-net", "exit_code": 0, "duration_ms": 3.5,
            "stderr": "configured", "timed_out": False}]


def full_chain(host: str, n: int = 3, **overrides) -> list[dict]:
    """``n`` linked events where every column the API shows holds a value."""
    fields = {"reason": "refused by policy", "stderr": "hook said no", "outcome": "aborted",
              "exit_code": 1, "policy": POLICY, "scripts": SCRIPTS,
              "warnings": ["unmanaged script"], "redactions": 2, "duration_ms": 12.5}
    return make_chain(host, n, **{**fields, **overrides})


def sql(db, statement: str, **params) -> None:
    """Run ``statement`` on the store directly, as a database administrator could."""
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)

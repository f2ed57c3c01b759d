"""Signed checkpoints against the store: what ``hookaudit anchors publish`` signs (every host's
chain head) and what ``hookaudit verify --checkpoint FILE`` finds changed since."""
from collections import namedtuple
from datetime import datetime

from sqlalchemy import func, select

from app.db import Database
from app.models import Event, Host
from app.timeutil import parse_iso
from app.services import anchors
from app.services.checkpoints import chain_start
from app.services.chain_heads import head_problem, stored_at

Head = namedtuple("Head", "seq hash reported_at")
SOURCE = "the signed checkpoint holds"


def store_heads(db: Database) -> dict[str, dict]:
    """host -> {"seq", "hash"}: the end of each host's gapless stored chain (ingest keeps it)."""
    with db.session() as s:
        rows = s.execute(select(Host.name, Host.chain_head_seq, Host.chain_head_hash)
                         .where(Host.chain_head_seq.is_not(None)).order_by(Host.name))
        return {name: {"seq": seq, "hash": hash_} for name, seq, hash_ in rows if hash_}


def publish(db: Database, key_path: str, now: datetime | None = None) -> dict:
    """A checkpoint of every host's chain head, signed with the private key at ``key_path``."""
    return anchors.checkpoint(store_heads(db), anchors.load_private(key_path), now)


def check(db: Database, doc, keys: dict, secret: str | None = None) -> dict:
    """The checkpoint's own problems, then each host's store against it:
    {"ok", "problems": [...], "hosts": {host: [problems]}}."""
    problems = anchors.checkpoint_problems(doc, keys)
    hosts: dict[str, list[str]] = {}
    if not problems:
        when = parse_iso(doc["created_at"])
        for name, head in sorted((doc.get("hosts") or {}).items()):
            hosts[name] = _host_problems(db, name, Head(head["seq"], head["hash"], when), secret)
    bad = problems + [f"{h}: {p}" for h, ps in hosts.items() for p in ps]
    return {"ok": not bad, "problems": bad, "hosts": hosts,
            "key_id": (doc.get("signature") or {}).get("key_id") if isinstance(doc, dict)
            else None}


def _host_problems(db: Database, name: str, head: Head, secret: str | None) -> list[str]:
    with db.session() as s:
        host = s.scalar(select(Host).where(Host.name == name))
        if host is None:
            return ["host is in the checkpoint but not in the store"]
        start_seq, start_hash, _ = chain_start(s, host, secret)
        if head.seq <= start_seq:   # pruned since: only the retention checkpoint can tell
            same = head.seq < start_seq or head.hash == start_hash
            return [] if same else [(f"retention checkpoint at seq {start_seq} differs from "
                                     "the signed checkpoint")]
        stored = stored_at(s, host.id, {head.seq}).get(head.seq, [])
        end = s.scalar(select(func.max(Event.seq)).where(Event.host_id == host.id)) or 0
    problem = head_problem(head, stored, end, SOURCE)
    return problem["problems"] if problem else []

"""Re-check every host's stored hash chain from the canonical forms, without the XML bodies.

For each event in seq order: its canonical form still hashes to its hash, the columns the
API shows still agree with the canonical form, its prev_hash links to the previous event,
no seq is missing, and the XML blob it points at has the digest the event claims (each blob
re-hashed once per run). The first bad event of each host is named.
"""
import hashlib
import json
import zlib
from collections.abc import Iterator

from sqlalchemy import select

from app.db import Database
from app.models import Event, Host, XmlBlob
from app.services.chain import SPOOL_RESET
from app.services.checkpoints import chain_start
from app.timeutil import iso
from hookshim.event import GENESIS_HASH

# Columns compared with the canonical form (a changed column = tampering in the database).
COMPARED = ("event_id", "seq", "prev_hash", "driver", "op", "subop", "extra", "outcome",
            "exit_code")


def event_problems(row, canon: dict, prev: tuple[int, str], blob_ok) -> list[str]:
    """Problems of one stored event given the previous (seq, hash) of its chain."""
    problems = []
    if hashlib.sha256(row.canonical).hexdigest() != row.hash:
        problems.append("hash does not match the stored canonical form")
    for col in COMPARED:
        if canon.get(col) != getattr(row, col):
            problems.append(f"column {col} differs from the canonical form")
    if canon.get("started_at") != iso(row.started_at):
        problems.append("column started_at differs from the canonical form")
    prev_seq, prev_hash = prev
    reset = canon.get("kind") == SPOOL_RESET   # declares what came before it lost
    if row.seq > prev_seq + 1 and not reset:
        problems.append(f"seq {prev_seq + 1}..{row.seq - 1} missing before this event")
    elif row.seq == prev_seq + 1 and row.prev_hash != prev_hash and not (
            reset and row.prev_hash == GENESIS_HASH):
        problems.append(f"prev_hash does not link to the event with seq {prev_seq}")
    elif row.seq <= prev_seq:
        problems.append(f"seq {row.seq} repeats or goes backwards")
    for key, blob in (("xml_sha256", row.xml_blob), ("output_xml_sha256", row.output_xml_blob)):
        if canon.get(key) != blob:
            problems.append(f"{key} differs from the stored XML body")
        elif blob is not None and not blob_ok(blob):
            problems.append(f"stored XML body {blob[:12]}… does not match its digest")
    return problems


def _rows(session, host_id: int) -> Iterator:
    stmt = (select(Event.event_id, Event.seq, Event.prev_hash, Event.hash, Event.canonical,
                   Event.driver, Event.op, Event.subop, Event.extra, Event.outcome,
                   Event.exit_code, Event.started_at, Event.xml_blob, Event.output_xml_blob)
            .where(Event.host_id == host_id).order_by(Event.seq, Event.id)
            .execution_options(yield_per=2000))
    return session.execute(stmt)


def verify_host(db: Database, name: str, secret: str | None = None) -> dict:
    checked: dict[str, bool] = {}

    def blob_ok(sha: str) -> bool:
        if sha not in checked:
            with db.session() as s:
                data = s.scalar(select(XmlBlob.data).where(XmlBlob.sha256 == sha))
            checked[sha] = data is not None and \
                hashlib.sha256(zlib.decompress(data)).hexdigest() == sha
        return checked[sha]

    result = {"host": name, "events": 0, "problems": 0, "first_bad": None}
    with db.session() as session:
        host = session.scalar(select(Host).where(Host.name == name))
        seq, prev_hash, start_problems = chain_start(session, host, secret)
        if start_problems:
            result["problems"] = len(start_problems)
            result["first_bad"] = {"event_id": None, "seq": seq, "problems": start_problems}
        prev = (seq, prev_hash)
        for row in _rows(session, host.id):
            result["events"] += 1
            canon = json.loads(row.canonical)
            if row.seq <= seq:   # kept aborts inside the pruned prefix: their own hash only
                problems = event_problems(row, canon, (row.seq - 1, row.prev_hash), blob_ok)
            else:
                problems = event_problems(row, canon, prev, blob_ok)
                prev = (row.seq, row.hash)
            if problems:
                result["problems"] += 1
                result["first_bad"] = result["first_bad"] or {
                    "event_id": row.event_id, "seq": row.seq, "problems": problems}
    result["ok"] = result["problems"] == 0
    return result


def verify_all(db: Database, secret: str | None = None, hosts: list[str] | None = None):
    """verify_host for every host (or the named ones), in name order."""
    with db.session() as session:
        names = list(session.scalars(select(Host.name).order_by(Host.name)))
    return [verify_host(db, n, secret) for n in names if not hosts or n in hosts]

"""Re-check every host's stored hash chain from the canonical forms, without the XML bodies.

For each event in seq order: its canonical form still hashes to its hash; EVERY column the
API or dashboard shows, and its policy_decisions rows, equal what ingest derives from that
canonical form (one derivation: ingest's own ``_event_row``, so verify cannot drift from what
ingest stores); its prev_hash links to the previous event; no seq is missing; the XML blob it
points at has the digest the event claims (each blob re-hashed once per run). Then the store
is compared with the chain heads the host reported in its heartbeats (chain_heads.py): a
store that is behind or diverges from the host's own view is reported. Every bad event is
named (the first ``MAX_NAMED`` of each host), the first one as ``first_bad``.
"""
import hashlib
import json
import zlib

from sqlalchemy import select

from app.db import Database
from app.models import Event, Host, PolicyDecision, XmlBlob
from app.services.chain import SPOOL_RESET
from app.services.chain_heads import head_problems
from app.services.checkpoints import chain_start
from app.services.ingest import EVENT_COLUMNS, _clean, _event_row
from app.services.ingest_validate import Prepared
from app.timeutil import parse_iso
from hookshim.event import GENESIS_HASH

# Columns the server sets itself; each is checked another way (host name, hash, blobs) or is
# server bookkeeping that verify re-derives anyway (chain_ok, received_at). clock_skew says
# where ingest placed the event: started_at must then be received_at, host_started_at the
# canonical started_at (so a flagged event still shows the time its host hashed).
SERVER_COLUMNS = frozenset({"host_id", "hash", "xml_blob", "output_xml_blob", "canonical",
                            "chain_ok", "received_at", "clock_skew"})
SHOWN_COLUMNS = tuple(c for c in EVENT_COLUMNS if c not in SERVER_COLUMNS)
JSON_COLUMNS = frozenset({"policy", "scripts", "warnings"})
DECISION_FIELDS = ("rule_id", "mode", "verdict", "message", "error", "bundle_version", "at")
MAX_NAMED = 100
BATCH = 2000


def expected_row(canon: dict, canonical: bytes, received_at=None) -> dict:
    """The shown columns ingest stores for this canonical form (ValueError: not derivable).
    ``received_at``: the stored receive time of an event flagged clock_skew (ingest placed
    it there; the host's time must then be in host_started_at)."""
    canon = dict(canon, hash="")   # not hashed, so not in the form; not a shown column here
    p = Prepared(canon, canonical, canon.get("xml_sha256"), canon.get("output_xml_sha256"),
                 parse_iso(canon["started_at"]), b"\\u0000" in canonical)
    if received_at is not None:
        p.claimed, p.started_at = p.started_at, received_at
    row = _event_row(p, 0, True, None)
    return {c: row[c] for c in SHOWN_COLUMNS}


def expected_decisions(canon: dict, received_at=None) -> list[tuple]:
    """policy_decisions rows ingest stores for this canonical form, in insertion order."""
    policy = canon.get("policy") or {}
    at = received_at or parse_iso(canon["started_at"])
    return [(_clean(d.get("rule_id")), _clean(d.get("mode")), _clean(d.get("verdict")),
             _clean(d.get("message")), _clean(d.get("error")),
             _clean(policy.get("bundle_version")), at)
            for d in policy.get("decisions") or ()]


def _same(column: str, want, have) -> bool:
    if column in JSON_COLUMNS:   # compare as JSON text: True == 1 in Python, not on screen
        return json.dumps(want, sort_keys=True) == json.dumps(have, sort_keys=True)
    return want == have


def column_problems(row, canon: dict, host_name: str, decisions: list[tuple]) -> list[str]:
    """Shown values (columns, host, policy decisions) that differ from the canonical form."""
    moved_to = row.received_at if row.clock_skew else None
    try:
        want = expected_row(canon, row.canonical, moved_to)
        want_decisions = expected_decisions(canon, moved_to)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return [f"canonical form cannot be read: {exc}"]
    problems = [f"column {c} differs from the canonical form" for c in SHOWN_COLUMNS
                if not _same(c, want[c], getattr(row, c))]
    if canon.get("host") != host_name:
        problems.append(f"stored under host {host_name!r}, "
                        f"canonical form says {canon.get('host')!r}")
    if decisions != want_decisions:
        problems.append(_decision_problem(decisions, want_decisions))
    return problems


def _decision_problem(have: list[tuple], want: list[tuple]) -> str:
    if len(have) != len(want):
        return (f"policy_decisions: {len(have)} row(s) stored, "
                f"{len(want)} in the canonical form")
    for h, w in zip(have, want):
        for name, hv, wv in zip(DECISION_FIELDS, h, w):
            if hv != wv:
                return (f"policy_decisions row for rule {w[0]!r}: {name} is {hv!r}, "
                        f"the canonical form says {wv!r}")
    return "policy_decisions differ from the canonical form"   # pragma: no cover


def link_problems(row, prev: tuple[int, str], reset: bool = False) -> list[str]:
    """Problems of the event's place in its chain given the previous (seq, hash). A spool
    reset event declares what came before it lost (and may restart from genesis)."""
    prev_seq, prev_hash = prev
    if row.seq > prev_seq + 1 and not reset:
        return [f"seq {prev_seq + 1}..{row.seq - 1} missing before this event"]
    if row.seq == prev_seq + 1 and row.prev_hash != prev_hash and not (
            reset and row.prev_hash == GENESIS_HASH):
        return [f"prev_hash does not link to the event with seq {prev_seq}"]
    if row.seq <= prev_seq:
        return [f"seq {row.seq} repeats or goes backwards"]
    return []


def event_problems(row, canon: dict, prev: tuple[int, str], blob_ok, host_name: str,
                   decisions: list[tuple]) -> list[str]:
    """Problems of one stored event given the previous (seq, hash) of its chain."""
    problems = []
    if hashlib.sha256(row.canonical).hexdigest() != row.hash:
        problems.append("hash does not match the stored canonical form")
    problems += column_problems(row, canon, host_name, decisions)
    problems += link_problems(row, prev, canon.get("kind") == SPOOL_RESET)
    for key, blob in (("xml_sha256", row.xml_blob), ("output_xml_sha256", row.output_xml_blob)):
        if canon.get(key) != blob:
            problems.append(f"{key} differs from the stored XML body")
        elif blob is not None and not blob_ok(blob):
            problems.append(f"stored XML body {blob[:12]}… does not match its digest")
    return problems


def _batches(session, host_id: int):
    """(events, decisions by event pk) in seq order, BATCH events at a time."""
    cols = [Event.__table__.c[c] for c in EVENT_COLUMNS if c != "host_id"]
    stmt = (select(Event.id, *cols).where(Event.host_id == host_id)
            .order_by(Event.seq, Event.id).execution_options(yield_per=BATCH))
    for part in session.execute(stmt).partitions():
        yield part, _decisions(session, [r.id for r in part])


def _decisions(session, pks: list[int]) -> dict[int, list[tuple]]:
    d = PolicyDecision
    rows = session.execute(select(d.event_id, *(getattr(d, f) for f in DECISION_FIELDS))
                           .where(d.event_id.in_(pks)).order_by(d.id))
    out: dict[int, list[tuple]] = {}
    for pk, *values in rows:
        out.setdefault(pk, []).append(tuple(values))
    return out


class _Report:
    """One host's verify result as it accumulates."""

    def __init__(self, name: str):
        self.data = {"host": name, "events": 0, "problems": 0, "first_bad": None, "bad": []}

    def bad(self, event_id, seq, problems: list[str]) -> None:
        entry = {"event_id": event_id, "seq": seq, "problems": problems}
        self.data["problems"] += 1
        self.data["first_bad"] = self.data["first_bad"] or entry
        if len(self.data["bad"]) < MAX_NAMED:
            self.data["bad"].append(entry)


def verify_host(db: Database, name: str, secret: str | None = None) -> dict:
    checked: dict[str, bool] = {}

    def blob_ok(sha: str) -> bool:
        if sha not in checked:
            with db.session() as s:
                data = s.scalar(select(XmlBlob.data).where(XmlBlob.sha256 == sha))
            checked[sha] = data is not None and \
                hashlib.sha256(zlib.decompress(data)).hexdigest() == sha
        return checked[sha]

    report = _Report(name)
    with db.session() as session:
        host = session.scalar(select(Host).where(Host.name == name))
        seq, prev_hash, start_problems = chain_start(session, host, secret)
        if start_problems:
            report.bad(None, seq, start_problems)
        prev = (seq, prev_hash)
        for rows, decisions in _batches(session, host.id):
            for row in rows:
                report.data["events"] += 1
                try:
                    canon = json.loads(row.canonical)
                except ValueError:
                    canon = {}
                link = (row.seq - 1, row.prev_hash) if row.seq <= seq else prev
                problems = event_problems(row, canon, link, blob_ok, name,
                                          decisions.get(row.id, []))
                if row.seq > seq:   # kept aborts inside the pruned prefix: their own hash only
                    prev = (row.seq, row.hash)
                if problems:
                    report.bad(row.event_id, row.seq, problems)
        for head in head_problems(session, host.id, seq):
            report.bad(head["event_id"], head["seq"], head["problems"])
    report.data["ok"] = report.data["problems"] == 0
    return report.data


def verify_all(db: Database, secret: str | None = None, hosts: list[str] | None = None):
    """verify_host for every host (or the named ones), in name order."""
    with db.session() as session:
        names = list(session.scalars(select(Host.name).order_by(Host.name)))
    return [verify_host(db, n, secret) for n in names if not hosts or n in hosts]

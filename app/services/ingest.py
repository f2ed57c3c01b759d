"""Ingest, step two: store a validated batch atomically and idempotently, verify its chain
(step one, parsing and validation, is ingest_validate.py; the writes go through bulk.py).

One transaction per batch, with the host's row locked, so two app processes ingesting the
same host serialize (gaps and chain links stay consistent) while different hosts proceed in
parallel. Shared rows (XML blobs, guests) are written in sorted key order: no deadlocks.
"""
import hashlib
import logging
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

from psycopg import IntegrityError as DriverIntegrityError  # COPY errors arrive unwrapped
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Database, is_postgresql
from app.models import ChainProblem, Event, Guest, Host, PolicyDecision, SeqGap, XmlBlob
from app.services import chain, histogram_rollup
from app.services.bulk import copy_rows, executemany, insert_ignore, member_of
from app.services.clock_skew import ClockBounds, apply_bounds
from app.services.errors import Conflict, Invalid
from app.services.facts_pass import queue_guests
from app.services.guest_state import apply_event
from app.services.ingest_validate import Prepared, prepare
from app.timeutil import utcnow

log = logging.getLogger("hookaudit.ingest")
CONFLICT_COLUMNS = ("conflict_host", "conflict_event_id", "conflict_at")
SUMMARY_FIELDS = ("event_id", "seq", "driver", "object", "op", "subop", "outcome", "reason",
                  "domain_uuid", "started_at", "policy")


@dataclass
class IngestResult:
    response: dict
    summary: dict = field(default_factory=dict)


def ingest(db: Database, host_id: int, events: list[dict],
           prepared: list[Prepared] | None = None,
           clock: ClockBounds = ClockBounds()) -> IngestResult:
    """Store one validated batch of ``host_id`` in one transaction; see the module docstring.
    ``prepared``: check_batch's result for ``events`` (computed here when not given);
    ``clock``: how far started_at may be from now (clock_skew.py)."""
    now = utcnow()
    prepared = prepared or [prepare(e) for e in events]
    apply_bounds(prepared, now, clock)
    try:
        with db.session(write=True) as session:
            host = _lock_host(session, host_id)
            return _ingest_locked(session, host, events, prepared, now)
    except (IntegrityError, DriverIntegrityError) as exc:
        # Only reachable when another host already used one of these event_ids.
        log.warning("ingest conflict for host %s: %s", host_id, exc.orig)
        raise Conflict("an event_id of this batch belongs to another host") from None


def _lock_host(session: Session, host_id: int) -> Host:
    stmt = select(Host).where(Host.id == host_id)
    if is_postgresql(session.bind):
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one()


def _ingest_locked(session: Session, host: Host, events: list[dict], prepared, now: datetime):
    unique = {}
    for raw in events:
        unique.setdefault(raw["event_id"], raw)
    existing = _existing_ids(session, host.id, events)
    new = sorted((e for i, e in unique.items() if i not in existing), key=lambda e: e["seq"])
    prep = {id(p.raw): p for p in prepared}
    problems = _verify(session, host.id, new, prep)
    _store_blobs(session, new, prep, now)
    _insert_events(session, host.id, new, prep, problems, now)
    _insert_decisions(session, new, prep)
    flagged = _record_problems(session, host.id, problems, now)
    open_gaps = _update_gaps(session, host, [e["seq"] for e in new], now)
    open_gaps = _declare_resets(session, host, new, open_gaps, now)
    _update_host(session, host, new, len(flagged), open_gaps, now)
    _update_guests(session, host.name, new, prep)
    # The facts pass recomputes these guests after the commit (app/services/facts_pass.py),
    # each from its earliest new event on (a backlog can bring events older than its boot).
    since: dict = {}
    for e in new:
        if e.get("domain_uuid"):
            uuid, at = e["domain_uuid"].lower(), prep[id(e)].started_at
            since[uuid] = min(since.get(uuid, at), at)
    queue_guests(session, since, now, since)
    stored_ids = {e["event_id"] for e in new}
    # each result names the event_id as the client sent it (the forwarder matches on it)
    results = [{"event_id": prep[id(e)].sent_id or e["event_id"],
                "status": "stored" if e["event_id"] in stored_ids and e is unique[e["event_id"]]
                else "duplicate"} for e in events]
    response = {"stored": len(new), "duplicates": len(events) - len(new), "results": results,
                "gaps": [list(g) for g in open_gaps[:100]], "chain_problems": flagged}
    summary = {"host": host.name, "events": [{k: e.get(k) for k in SUMMARY_FIELDS} for e in new],
               "gaps": response["gaps"], "chain_problems": flagged,
               "duplicates": response["duplicates"]}   # metrics: idempotent re-sends
    return IngestResult(response, summary)


def _existing_ids(session: Session, host_id: int, events: list[dict]) -> set[str]:
    """event_ids of the batch already stored for this host; 422 for ones another host owns
    (the forwarder parks exactly those: replaying them could never succeed)."""
    ids = [e["event_id"] for e in events]
    if not ids:
        return set()
    rows = session.execute(select(Event.event_id, Event.host_id)
                           .where(member_of(session, Event.event_id, ids)))
    owners = dict(rows.all())
    foreign = [(i, e["event_id"]) for i, e in enumerate(events)
               if owners.get(e["event_id"], host_id) != host_id]
    if foreign:
        raise Invalid("event_id already used by another host",
                      [{"index": i, "event_id": eid, "field": "event_id",
                        "message": "already used by another host"} for i, eid in foreign])
    return set(owners)


def own_problems(p: Prepared) -> list[str]:
    """hookshim.event.verify_event's checks, on the canonical form and digests computed once."""
    e, problems = p.raw, []
    if p.xml_sha != e.get("xml_sha256"):
        problems.append("xml_sha256 does not match xml")
    if p.out_sha != e.get("output_xml_sha256"):
        problems.append("output_xml_sha256 does not match output_xml")
    if hashlib.sha256(p.canonical).hexdigest() != e.get("hash"):   # == chain_hash(e)
        problems.append("hash does not match the event's canonical form")
    return problems


def _verify(session: Session, host_id: int, new: list[dict], prep) -> list[tuple[dict, str]]:
    """Own hash and XML digests of each new event, and links with its neighbours."""
    problems = [(e, p) for e in new for p in own_problems(prep[id(e)])]
    if not new:
        return problems
    seqs = [e["seq"] for e in new]
    cols = (Event.event_id, Event.seq, Event.hash, Event.prev_hash)
    stmt = select(*cols).where(Event.host_id == host_id)
    if seqs[-1] - seqs[0] < 2 * len(seqs):   # contiguous batch: one index range
        stmt = stmt.where(Event.seq.between(seqs[0] - 1, seqs[-1] + 1))
    else:
        stmt = stmt.where(member_of(session, Event.seq, sorted(chain.neighbour_seqs(seqs))))
    stored: dict[int, list[dict]] = {}
    for row in session.execute(stmt).mappings():
        stored.setdefault(row["seq"], []).append(dict(row))
    batch = {}
    for e in new:
        if e["seq"] in batch:
            other = batch[e["seq"]]["event_id"]
            problems.append((e, f"seq {e['seq']} already used by event {other}"))
        else:
            batch[e["seq"]] = e
    return problems + chain.link_problems(batch, stored)


def _store_blobs(session: Session, new: list[dict], prep, now: datetime) -> None:
    bodies = {}
    for e in new:
        p = prep[id(e)]
        for sha, key in ((p.xml_sha, "xml"), (p.out_sha, "output_xml")):
            if sha is not None:
                bodies.setdefault(sha, e[key])
    if not bodies:
        return
    have = set(session.scalars(select(XmlBlob.sha256).where(member_of(session, XmlBlob.sha256, bodies))))
    rows = []
    for sha in sorted(set(bodies) - have):   # sorted: concurrent batches lock in one order
        data = bodies[sha].encode("utf-8", "surrogatepass")
        rows.append({"sha256": sha, "size": len(data), "data": zlib.compress(data, 6),
                     "created_at": now})
    if rows:
        session.execute(insert_ignore(session, XmlBlob, ["sha256"]), rows)


def _clean(value):
    # PostgreSQL text cannot hold NUL; the exact value stays in the canonical form.
    return value.replace("\x00", "\\x00") if isinstance(value, str) else value


def _same(value):
    return value


# The events row as _event_values lists it; NUL is escaped in the free-text and JSON ones.
EVENT_COLUMNS = (
    "event_id", "host_id", "v", "kind", "seq", "prev_hash", "hash", "driver", "object", "op",
    "subop", "extra", "domain_uuid", "started_at", "duration_ms", "exit_code", "outcome",
    "reason", "stderr", "xml_blob", "xml_truncated", "output_xml_blob", "redactions",
    "policy_bundle_version", "policy", "scripts", "warnings", "dropped", "shim_version",
    "shim_hostname", "shim_pid", "canonical", "chain_ok", "received_at", "clock_skew",
    "host_started_at")
_TEXT_AT = [EVENT_COLUMNS.index(c) for c in (
    "driver", "object", "op", "subop", "extra", "reason", "stderr", "policy_bundle_version",
    "shim_version", "shim_hostname")]
_JSON_AT = [EVENT_COLUMNS.index(c) for c in ("policy", "scripts", "warnings")]
# (started_at, driver, op, outcome) of an events row: the histogram rollup's key
_ROLLUP_VALUES = itemgetter(*(EVENT_COLUMNS.index(c) for c in ("started_at", "driver", "op",
                                                                "outcome")))


def _event_row(p: Prepared, host_id: int, chain_ok: bool, now: datetime) -> dict:
    """The events row of one event: column -> value (JSON columns as Python values)."""
    return dict(zip(EVENT_COLUMNS, _event_values(p, host_id, chain_ok, now)))


def _event_values(p: Prepared, host_id: int, chain_ok: bool, now: datetime) -> list:
    """_event_row's values in EVENT_COLUMNS order (what COPY writes, no dict per event)."""
    e = p.raw
    get = e.get
    policy, shim = get("policy") or None, get("shim") or {}
    uuid = get("domain_uuid")
    row = [
        e["event_id"].lower(), host_id, e["v"], get("kind", "hook"), e["seq"], e["prev_hash"],
        e["hash"], e["driver"], e["object"], e["op"], e["subop"], e["extra"],
        uuid.lower() if uuid else None, p.started_at, get("duration_ms"), get("exit_code"),
        e["outcome"], get("reason"), get("stderr"), p.xml_sha, bool(get("xml_truncated")),
        p.out_sha, get("redactions") or 0, policy and policy.get("bundle_version"), policy,
        get("scripts") or [], get("warnings") or [], get("dropped"), shim.get("version"),
        shim.get("hostname"), shim.get("pid"), p.canonical, chain_ok, now,
        p.claimed is not None, p.claimed,
    ]
    if p.nul:   # else no stored string needs cleaning
        for i in _TEXT_AT:
            row[i] = _clean(row[i])
        for i in _JSON_AT:
            row[i] = _json_clean(row[i])
    return row


def _json_clean(value):
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(k): _json_clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_clean(v) for v in value]
    return value


def _insert_events(session, host_id, new, prep, problems, now) -> None:
    if not new:
        return
    bad = {id(e) for e, _ in problems}
    ready = [prep[id(e)] for e in new]
    rows = [_event_values(p, host_id, id(p.raw) not in bad, now) for p in ready]
    # counted as stored (receive time for a skewed clock, NUL escaped), before COPY encodes
    histogram_rollup.add(session, host_id, map(_ROLLUP_VALUES, rows))
    copy_rows(session, Event.__table__, EVENT_COLUMNS, rows, [p.plain for p in ready])


def _insert_decisions(session: Session, new: list[dict], prep) -> None:
    with_policy = [e for e in new if (e.get("policy") or {}).get("decisions")]
    if not with_policy:
        return
    ids = dict(session.execute(select(Event.event_id, Event.id).where(
        member_of(session, Event.event_id, [e["event_id"] for e in with_policy]))).all())
    rows = []
    for e in with_policy:
        policy = e["policy"]
        for d in policy["decisions"]:
            rows.append({"event_id": ids[e["event_id"]], "rule_id": _clean(d["rule_id"]),
                         "mode": _clean(d["mode"]), "verdict": _clean(d["verdict"]),
                         "message": _clean(d.get("message")), "error": _clean(d.get("error")),
                         "bundle_version": _clean(policy.get("bundle_version")),
                         "at": prep[id(e)].started_at})
    executemany(session, PolicyDecision.__table__, rows)


def _record_problems(session, host_id, problems, now) -> list[dict]:
    flagged = [{"event_id": e["event_id"], "seq": e["seq"], "problem": p} for e, p in problems]
    if not flagged:
        return flagged
    session.execute(insert(ChainProblem),
                    [dict(f, host_id=host_id, detected_at=now) for f in flagged])
    # A stored successor whose link broke only now is flagged as well (it is not in the batch).
    ids = {f["event_id"] for f in flagged}
    session.execute(update(Event).where(member_of(session, Event.event_id, ids)).values(chain_ok=False))
    return flagged


def _update_gaps(session: Session, host: Host, seqs: list[int], now) -> list[tuple[int, int]]:
    """Open gaps for seqs past the highest seen, shrink or close gaps late events fill."""
    prev_max = host.last_seq or 0
    gaps = session.scalars(select(SeqGap).where(SeqGap.host_id == host.id,
                                                SeqGap.closed_at.is_(None))
                           .order_by(SeqGap.from_seq)).all()
    late = [s for s in seqs if s <= prev_max]
    result = []
    for gap in gaps:
        span = (gap.from_seq, gap.to_seq)
        left = chain.fill_gap(span, late) if late else [span]
        if not left:
            gap.closed_at = now
            continue
        gap.from_seq, gap.to_seq = left[0]
        for lo, hi in left[1:]:
            session.add(SeqGap(host_id=host.id, from_seq=lo, to_seq=hi,
                               detected_at=gap.detected_at))
        result.extend(left)
    for lo, hi in chain.new_gaps(prev_max, seqs):
        session.add(SeqGap(host_id=host.id, from_seq=lo, to_seq=hi, detected_at=now))
        result.append((lo, hi))
    return sorted(result)


def _declare_resets(session: Session, host: Host, new: list[dict], open_gaps, now):
    """A spool_reset event closes the open gaps before it as declared lost and becomes the
    host's last reset; returns the gaps still open."""
    resets = [e for e in new if e.get("kind") == chain.SPOOL_RESET]
    if not resets:
        return open_gaps
    last = resets[-1]   # new is in seq order
    declared = last.get("reset") if isinstance(last.get("reset"), dict) else {}
    head_seq, head_hash = declared.get("head_seq"), declared.get("head_hash")
    host.spool_reset_at, host.spool_reset_event_id = now, last["event_id"]
    host.spool_reset_head_seq = head_seq if type(head_seq) is int and 0 <= head_seq < 2**63 \
        else None
    host.spool_reset_head_hash = head_hash if head_hash != "unknown" and isinstance(
        head_hash, str) and len(head_hash) == 64 else None
    lost, still_open = chain.declared_lost(open_gaps, last["seq"])
    if lost:
        session.flush()   # the gaps _update_gaps just added
        session.execute(update(SeqGap).where(
            SeqGap.host_id == host.id, SeqGap.closed_at.is_(None),
            SeqGap.to_seq < last["seq"]).values(closed_at=now, declared_by=last["event_id"]))
    return still_open


def _update_host(session, host: Host, new: list[dict], n_problems: int, open_gaps, now) -> None:
    host.last_seen_at = now
    if not new:
        return
    host.last_seq = max(host.last_seq or 0, new[-1]["seq"])
    host.events_count = (host.events_count or 0) + len(new)
    host.chain_problems = (host.chain_problems or 0) + n_problems
    version = (new[-1].get("shim") or {}).get("version")
    host.shim_version = _clean(version) or host.shim_version
    head = (open_gaps[0][0] - 1) if open_gaps else host.last_seq
    if head != host.chain_head_seq:
        by_seq = {e["seq"]: e["hash"] for e in new}
        host.chain_head_seq = head
        host.chain_head_hash = by_seq.get(head) or session.scalar(
            select(Event.hash).where(Event.host_id == host.id, Event.seq == head).limit(1))


def _update_guests(session: Session, host_name: str, new: list[dict], prep) -> None:
    by_uuid: dict[str, list[dict]] = {}
    for e in new:
        p = prep[id(e)]
        if e.get("domain_uuid") and p.claimed is None:   # a wrong clock moves no guest
            c = _clean if p.nul else _same
            ev = {"host": host_name, "domain_uuid": e["domain_uuid"].lower(),
                  "started_at": p.started_at, "object": c(e["object"]),
                  "event_id": e["event_id"], "driver": c(e["driver"]), "op": c(e["op"]),
                  "outcome": e["outcome"], "exit_code": e.get("exit_code")}
            by_uuid.setdefault(ev["domain_uuid"], []).append(ev)
    if not by_uuid:
        return
    uuids = sorted(by_uuid)   # sorted: concurrent batches lock guest rows in one order
    stmt = (select(Guest.__table__).where(member_of(session, Guest.domain_uuid, uuids))
            .order_by(Guest.domain_uuid))
    if is_postgresql(session.bind):
        stmt = stmt.with_for_update()
    current = {r["domain_uuid"]: dict(r) for r in session.execute(stmt).mappings()}
    inserts, updates = [], []
    for uuid in uuids:
        guest, evs = current.get(uuid), sorted(by_uuid[uuid], key=lambda x: x["started_at"])
        if guest is not None and evs[0]["started_at"] < guest["last_event_at"]:
            # Late arrival (another host's events came first): replay the recent history.
            guest, evs = None, _recent_events(session, uuid) or evs
            guest_first_seen = current[uuid]["first_seen_at"]
        else:
            guest_first_seen = None
        for ev in evs:
            guest = apply_event(guest, ev)
        if guest_first_seen is not None:
            guest["first_seen_at"] = min(guest_first_seen, guest["first_seen_at"])
            if guest["conflict_host"] is None:   # older than the replayed events: kept
                guest.update({k: current[uuid][k] for k in CONFLICT_COLUMNS})
        (updates if uuid in current else inserts).append(guest)
    if inserts:
        session.execute(insert_ignore(session, Guest, ["domain_uuid"]), inserts)
    if updates:
        _bulk_update_guests(session, updates)
    _mark_migrations(session, by_uuid)


def _mark_migrations(session: Session, by_uuid: dict[str, list[dict]]) -> None:
    """guests.migrated_at: the latest incoming migration that went on (never moved back by
    a late event): the Guests list's "migrated" filter."""
    latest = {}
    for uuid, evs in by_uuid.items():
        times = [e["started_at"] for e in evs if e["op"] == "migrate" and e["outcome"] == "ok"]
        if times:
            latest[uuid] = max(times)
    if not latest:
        return
    table = Guest.__table__
    stmt = (update(table).where(table.c.domain_uuid == bindparam("_uuid"))
            .where((table.c.migrated_at.is_(None)) | (table.c.migrated_at < bindparam("_at")))
            .values(migrated_at=bindparam("_at")))
    session.connection().execute(stmt, [{"_uuid": u, "_at": t} for u, t in sorted(latest.items())])


def _recent_events(session: Session, uuid: str, n: int = 50) -> list[dict]:
    """The guest's last ``n`` events (already including this batch), oldest first."""
    rows = session.execute(
        select(Event.event_id, Host.name.label("host"), Event.domain_uuid, Event.object,
               Event.driver, Event.op, Event.outcome, Event.exit_code, Event.started_at)
        .join(Host, Host.id == Event.host_id)
        .where(Event.domain_uuid == uuid, Event.clock_skew.is_(False))
        .order_by(Event.started_at.desc(), Event.id.desc()).limit(n)).mappings().all()
    return [dict(r) for r in reversed(rows)]


def _bulk_update_guests(session: Session, rows: list[dict]) -> None:
    cols = ("name", "driver", "current_host", "state", "last_event_at", "last_event_id",
            "last_op", "last_outcome") + CONFLICT_COLUMNS
    table = Guest.__table__
    stmt = (update(table).where(table.c.domain_uuid == bindparam("_uuid"))
            .values({c: bindparam("_" + c) for c in cols}))
    session.connection().execute(stmt, [{"_uuid": r["domain_uuid"],
                                         **{"_" + c: r[c] for c in cols}} for r in rows])

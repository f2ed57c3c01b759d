"""The facts pass: behind ingest, turn guests' stored events into held facts, conflicts and
definition changes (issue 17; the pure core is app/facts/, docs/attribution.md).

Ingest only queues (``queue_guests``: one ``facts_pending`` row per guest per batch, in the
batch's transaction). A pass takes the queued guests and recomputes each from its events:
- the facts of each distinct XML body are extracted once and kept in ``fact_sets``, and only
  for the calls that can open or change a holding (EXTRACT_OPS);
- the guest's ``held_facts`` are replaced (app/facts/intervals.py ``fact_intervals``);
- the conflicts of the MAC and disk keys it held or holds are re-derived
  (app/facts/collisions.py) and the ``fact_conflicts`` rows updated: a new one has started,
  one whose end appeared has ended (both reported to ``on_signal`` for the webhooks);
- consecutive boots' definitions are compared (app/facts/drift.py) into
  ``definition_changes``, each pair of XML bodies once.
Crash-safe and idempotent: the queue rows are deleted in the transaction that wrote the
results, and a guest is always recomputed from all its events, so a pass that dies is simply
done again. On PostgreSQL one advisory lock lets one process run the pass at a time.
"""
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, text, tuple_
from sqlalchemy.orm import Session

from app.db import Database, is_postgresql
from app.facts import FactsError, extract_facts
from app.facts.collisions import Holding, find_conflicts
from app.facts.drift import definition_drift
from app.facts.intervals import fact_intervals, stitch
from app.facts.model import Fact
from app.models import (DefinitionChange, Event, FactConflict, FactSet, FactsPending, HeldFact,
                        Host, XmlBlob)
from app.services.bulk import insert_ignore, member_of
from app.timeutil import iso, utcnow

log = logging.getLogger("hookaudit.facts")

# The calls whose XML can open or change a holding; stopped/release end the boot anyway.
EXTRACT_OPS = frozenset({"prepare", "start", "started", "migrate", "restore", "reconnect"})
COLLIDING_KINDS = ("mac", "disk")
MAX_GUEST_EVENTS = 20000        # as the timeline: a guest's history read per recompute
ALERT_RECENT = timedelta(hours=24)   # older starts/ends (a backfill) are recorded, not alerted
PASS_LOCK_ID = 170017           # pg advisory lock: one facts pass at a time per database
EVENT_COLUMNS = (Event.event_id, Host.name.label("host"), Event.driver, Event.op, Event.subop,
                 Event.extra, Event.started_at, Event.outcome, Event.xml_blob)


@dataclass
class PassResult:
    guests: int = 0
    extracted: int = 0
    signals: list[dict] = field(default_factory=list)   # conflict started / ended


def queue_guests(session: Session, uuids, now: datetime) -> None:
    """Ingest's part: the guests of a stored batch need their facts recomputed."""
    rows = [{"domain_uuid": u, "queued_at": now} for u in sorted(set(uuids))]
    if rows:
        session.execute(insert(FactsPending), rows)


def pending_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(FactsPending))


def catch_up(db: Database, guests_per_pass: int = 50,
             on_signal: Callable[[dict], None] | None = None) -> PassResult:
    """Run passes until nothing is queued (the backfill, the worker, `hookaudit facts`)."""
    total = PassResult()
    while True:
        result = run_pass(db, guests_per_pass)
        total.guests += result.guests
        total.extracted += result.extracted
        total.signals += result.signals
        for signal in result.signals:
            if on_signal is not None:
                on_signal(signal)
        if not result.guests:
            return total


def run_pass(db: Database, max_guests: int = 50) -> PassResult:
    """One short transaction: recompute up to ``max_guests`` queued guests."""
    result, now = PassResult(), utcnow()
    with db.session(write=True) as s:
        if is_postgresql(s.bind):   # another process's pass: wait for it, then go on
            s.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PASS_LOCK_ID})
        guests = list(s.scalars(select(FactsPending.domain_uuid).group_by(
            FactsPending.domain_uuid).order_by(func.min(FactsPending.id)).limit(max_guests)))
        if not guests:
            return result
        # The rows handled now: later ones (a batch committed meanwhile) wait for the next pass.
        ids = list(s.scalars(select(FactsPending.id).where(
            member_of(s, FactsPending.domain_uuid, guests))))
        for uuid in guests:
            recompute_guest(s, uuid, now, result)
        s.execute(delete(FactsPending).where(FactsPending.id.in_(ids)))
        result.guests = len(guests)
    return result


def recompute_guest(s: Session, uuid: str, now: datetime, result: PassResult) -> None:
    events = _guest_events(s, uuid)
    facts = _facts_of(s, {e["xml_blob"] for e in events
                          if e["op"] in EXTRACT_OPS and e["xml_blob"]}, now, result)
    for e in events:
        found = facts.get(e["xml_blob"]) if e["op"] in EXTRACT_OPS else None
        e["facts"] = None if found is None else _host_qualified(found, e["host"])
    intervals = fact_intervals(events)
    before = _colliding_keys(s, uuid)
    s.execute(delete(HeldFact).where(HeldFact.domain_uuid == uuid))
    if intervals:
        s.execute(insert(HeldFact), [_held_row(uuid, i) for i in intervals])
    after = {(i.fact.kind, i.fact.key) for i in intervals if i.fact.kind in COLLIDING_KINDS}
    _refresh_conflicts(s, sorted(before | after), now, result)
    _refresh_changes(s, uuid, events)


def _guest_events(s: Session, uuid: str) -> list[dict]:
    stmt = (select(*EVENT_COLUMNS).join(Host, Host.id == Event.host_id)
            .where(Event.domain_uuid == uuid).order_by(Event.started_at, Event.id)
            .limit(MAX_GUEST_EVENTS))
    return [dict(row._mapping) for row in s.execute(stmt)]


def _host_qualified(facts: tuple[Fact, ...], host: str) -> tuple[Fact, ...]:
    """A graphics port is only someone's on one host: its key is ``<host>:<port>``."""
    return tuple(Fact(f.kind, "%s:%s" % (host, f.key), f.attrs) if f.kind == "port" else f
                 for f in facts)


def _facts_of(s: Session, shas: set, now: datetime, result: PassResult) -> dict:
    """sha256 -> facts (None: unreadable), extracting each XML body only the first time."""
    known = {}
    if not shas:
        return known
    for sha, facts in s.execute(select(FactSet.sha256, FactSet.facts)
                                .where(member_of(s, FactSet.sha256, shas))):
        known[sha] = None if facts is None else tuple(Fact(k, key, tuple(sorted(a.items())))
                                                      for k, key, a in facts)
    missing = sorted(shas - set(known))
    rows = []
    for sha, data in s.execute(select(XmlBlob.sha256, XmlBlob.data)
                               .where(member_of(s, XmlBlob.sha256, missing))) if missing else ():
        try:
            found, error = extract_facts(zlib.decompress(data).decode("utf-8", "replace")), None
        except (FactsError, zlib.error) as exc:
            found, error = None, str(exc)[:500]
        known[sha] = found
        rows.append({"sha256": sha, "extracted_at": now, "error": error, "facts": None
                     if found is None else [[f.kind, f.key, f.attributes] for f in found]})
    if rows:
        s.execute(insert_ignore(s, FactSet, ["sha256"]), rows)
        result.extracted += len(rows)
    return known


def _held_row(uuid: str, i) -> dict:
    return {"kind": i.fact.kind, "key": i.fact.key, "domain_uuid": uuid, "hosts": list(i.hosts),
            "start": i.start, "end": i.end, "status": i.status, "attrs": i.fact.attributes,
            "event_ids": [e for e in i.event_ids if e]}


def _colliding_keys(s: Session, uuid: str) -> set:
    return set(s.execute(select(HeldFact.kind, HeldFact.key).where(
        HeldFact.domain_uuid == uuid, HeldFact.kind.in_(COLLIDING_KINDS)).distinct()).all())


# Conflicts ---------------------------------------------------------------------------------------
def _conflict_identity(kind, key, scope, a, b, start) -> tuple:
    return (kind, key, scope, a, b, start)


def _refresh_conflicts(s: Session, keys: list[tuple[str, str]], now, result) -> None:
    """Re-derive the conflicts of ``keys`` from the held facts and bring the table in line."""
    for start in range(0, len(keys), 200):
        chunk = keys[start:start + 200]
        holds = s.execute(select(HeldFact).where(
            tuple_(HeldFact.kind, HeldFact.key).in_(chunk), HeldFact.status != "aborted"))
        found = find_conflicts(_holding(h) for h in holds.scalars())
        new = {_conflict_identity(c.kind, c.key, c.scope, *c.guests, c.start): c for c in found}
        old = {_conflict_identity(r.kind, r.key, r.scope, r.guest_a, r.guest_b, r.start): r
               for r in s.scalars(select(FactConflict).where(
                   tuple_(FactConflict.kind, FactConflict.key).in_(chunk)))}
        for ident, row in old.items():
            if ident not in new:
                s.delete(row)
            elif row.end != new[ident].end:
                row.end, row.ended_at = new[ident].end, now if new[ident].end else None
                row.hosts = list(new[ident].hosts)
                if row.end is not None and now - row.end <= ALERT_RECENT:
                    result.signals.append(_signal("ended", row))
        for ident in new.keys() - old.keys():
            c = new[ident]
            row = FactConflict(kind=c.kind, key=c.key, scope=c.scope, guest_a=c.guests[0],
                               guest_b=c.guests[1], hosts=list(c.hosts), start=c.start,
                               end=c.end, detected_at=now, ended_at=now if c.end else None)
            s.add(row)
            if now - c.start <= ALERT_RECENT:
                result.signals.append(_signal("started", row))
            if c.end is not None and now - c.end <= ALERT_RECENT:
                result.signals.append(_signal("ended", row))
    s.flush()


def _holding(h: HeldFact) -> Holding:
    attrs = h.attrs or {}
    return Holding(h.kind, h.key, h.domain_uuid, tuple(h.hosts), h.start, h.end,
                   attrs.get("scope"), attrs.get("writable") == "yes",
                   attrs.get("shareable") == "yes")


def _signal(state: str, row: FactConflict) -> dict:
    return {"state": state, "kind": row.kind, "key": row.key, "scope": row.scope,
            "guests": [row.guest_a, row.guest_b], "hosts": list(row.hosts),
            "start": iso(row.start), "end": iso(row.end)}


# Definition changes --------------------------------------------------------------------------
def _refresh_changes(s: Session, uuid: str, events: list[dict]) -> None:
    """One row per boot whose definition (its first XML) differs from the previous boot's."""
    boots = [b for b in (_definition(stay) for stay in stitch(events)) if b]
    cached = {(r.boot_start, r.before_sha, r.after_sha): r for r in s.scalars(
        select(DefinitionChange).where(DefinitionChange.domain_uuid == uuid))}
    keep = set()
    for prev, cur in zip(boots, boots[1:]):
        if prev["sha"] == cur["sha"]:
            continue
        ident = (cur["start"], prev["sha"], cur["sha"])
        keep.add(ident)
        if ident not in cached:
            s.add(_change_row(s, uuid, prev, cur))
    for ident, row in cached.items():
        if ident not in keep:
            s.delete(row)


def _definition(stay) -> dict | None:
    """The stay's definition: the XML of its first prepare (closest to the definition),
    else of its first call that carries one."""
    if stay.status == "aborted":
        return None
    evs = [e for b in stay.boots for e in b["events"] if e["xml_blob"] and e["op"] in EXTRACT_OPS]
    first = next((e for e in evs if e["op"] == "prepare"), evs[0] if evs else None)
    return None if first is None else {"sha": first["xml_blob"], "start": stay.start,
                                       "hosts": list(stay.hosts), "event_id": first["event_id"]}


def _xml(s: Session, sha: str) -> str:
    data = s.scalar(select(XmlBlob.data).where(XmlBlob.sha256 == sha))
    return zlib.decompress(data).decode("utf-8", "replace")


def _change_row(s: Session, uuid: str, prev: dict, cur: dict) -> DefinitionChange:
    try:
        drift = definition_drift(_xml(s, prev["sha"]), _xml(s, cur["sha"]))
        changes = [{"category": c.category, "item": c.item, "action": c.action,
                    "before": c.before, "after": c.after} for c in drift.changes]
    except (FactsError, zlib.error, TypeError) as exc:   # TypeError: the blob was pruned
        log.info("no drift for %s at %s: %s", uuid, cur["start"], exc)
        changes = []
    categories = sorted({c["category"] for c in changes})
    return DefinitionChange(domain_uuid=uuid, boot_start=cur["start"], hosts=cur["hosts"],
                            before_sha=prev["sha"], after_sha=cur["sha"],
                            event_id=cur["event_id"], changes=changes,
                            categories="," + ",".join(categories) + "," if categories else "")


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
        recompute_guests(s, guests, now, result)
        s.execute(delete(FactsPending).where(FactsPending.id.in_(ids)))
        result.guests = len(guests)
    return result


def recompute_guests(s: Session, guests: list[str], now: datetime, result: PassResult) -> None:
    """Recompute these guests from their events, a few statements for all of them: the
    cost of a pass is per statement far more than per row (bench/facts_ingest.py)."""
    events_of = _events_of(s, guests)
    facts = _facts_of(s, {e["xml_blob"] for evs in events_of.values() for e in evs
                          if e["op"] in EXTRACT_OPS and e["xml_blob"]}, now, result)
    old_of = _held_rows(s, guests)
    gone, rows, keys = [], [], set()
    for uuid in guests:
        events = events_of.get(uuid, [])
        for e in events:
            found = facts.get(e["xml_blob"]) if e["op"] in EXTRACT_OPS else None
            e["facts"] = None if found is None else _host_qualified(found, e["host"])
        new = {_comparable(r): r for r in (_held_row(uuid, i) for i in fact_intervals(events))}
        old = {_comparable(r): r for r in old_of.get(uuid, [])}
        # Only what changed is written: most batches only add calls to a guest's last boot.
        gone += [r["id"] for k, r in old.items() if k not in new]
        rows += [r for k, r in new.items() if k not in old]
        keys |= {(r["kind"], r["key"]) for k, r in (*old.items(), *new.items())
                 if r["kind"] in COLLIDING_KINDS and (k not in new or k not in old)}
    if gone:
        s.execute(delete(HeldFact).where(HeldFact.id.in_(gone)))
    if rows:
        s.execute(insert(HeldFact), rows)
    if keys:
        _refresh_conflicts(s, sorted(keys), now, result)
    _refresh_changes(s, guests, events_of)


HELD_COLUMNS = ("kind", "key", "hosts", "start", "end", "status", "attrs", "event_ids")


def _held_rows(s: Session, guests: list[str]) -> dict[str, list[dict]]:
    table = HeldFact.__table__
    stmt = select(table.c.id, table.c.domain_uuid, *(table.c[c] for c in HELD_COLUMNS)).where(
        member_of(s, table.c.domain_uuid, guests))
    out: dict[str, list[dict]] = {}
    for row in s.execute(stmt):
        data = dict(row._mapping)
        out.setdefault(data.pop("domain_uuid"), []).append(data)
    return out


def _comparable(row: dict) -> tuple:
    return tuple(repr(row[c]) for c in HELD_COLUMNS)


def _events_of(s: Session, guests: list[str]) -> dict[str, list[dict]]:
    """Each guest's events in time order (at most MAX_GUEST_EVENTS, the oldest)."""
    stmt = (select(Event.domain_uuid, *EVENT_COLUMNS).join(Host, Host.id == Event.host_id)
            .where(member_of(s, Event.domain_uuid, guests))
            .order_by(Event.domain_uuid, Event.started_at, Event.id))
    out: dict[str, list[dict]] = {}
    for row in s.execute(stmt):
        data = dict(row._mapping)
        evs = out.setdefault(data.pop("domain_uuid"), [])
        if len(evs) < MAX_GUEST_EVENTS:
            evs.append(data)
    return out


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


# Conflicts ---------------------------------------------------------------------------------------
def _conflict_identity(kind, key, scope, a, b, start) -> tuple:
    return (kind, key, scope, a, b, start)


def _refresh_conflicts(s: Session, keys: list[tuple[str, str]], now, result) -> None:
    """Re-derive the conflicts of ``keys`` from the held facts and bring the table in line."""
    for start in range(0, len(keys), 200):
        chunk = keys[start:start + 200]
        t = HeldFact.__table__.c
        holds = s.execute(select(t.kind, t.key, t.domain_uuid, t.hosts, t.start, t.end, t.attrs)
                          .where(tuple_(t.kind, t.key).in_(chunk), t.status != "aborted"))
        found = find_conflicts(_holding(*h) for h in holds)
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


def _holding(kind, key, guest, hosts, start, end, attrs) -> Holding:
    attrs = attrs or {}
    return Holding(kind, key, guest, tuple(hosts), start, end, attrs.get("scope"),
                   attrs.get("writable") == "yes", attrs.get("shareable") == "yes")


def _signal(state: str, row: FactConflict) -> dict:
    return {"state": state, "kind": row.kind, "key": row.key, "scope": row.scope,
            "guests": [row.guest_a, row.guest_b], "hosts": list(row.hosts),
            "start": iso(row.start), "end": iso(row.end)}


# Definition changes --------------------------------------------------------------------------
def _refresh_changes(s: Session, guests: list[str], events_of: dict) -> None:
    """One row per boot whose definition (its first XML) differs from the previous boot's;
    each pair of XML bodies is compared once (the rows are kept)."""
    cached: dict[str, dict] = {}
    for r in s.scalars(select(DefinitionChange).where(
            member_of(s, DefinitionChange.domain_uuid, guests))):
        cached.setdefault(r.domain_uuid, {})[(r.boot_start, r.before_sha, r.after_sha)] = r
    for uuid in guests:
        boots = [b for b in (_definition(st) for st in stitch(events_of.get(uuid, []))) if b]
        mine, keep = cached.get(uuid, {}), set()
        for prev, cur in zip(boots, boots[1:]):
            if prev["sha"] == cur["sha"]:
                continue
            ident = (cur["start"], prev["sha"], cur["sha"])
            keep.add(ident)
            if ident not in mine:
                s.add(_change_row(s, uuid, prev, cur))
        for ident, row in mine.items():
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


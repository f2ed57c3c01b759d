"""Reading the facts tables (issue 17): who held a MAC, disk, device, port or IP when; the
conflicts; the definitions that changed. The facts pass (facts_pass.py) writes them."""
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.facts.lookup import lookup_keys
from app.models import DefinitionChange, FactConflict, Guest, HeldFact
from app.services.errors import Invalid
from app.services.paging import LIKE_ESCAPE
from app.timeutil import iso

HOLDER_FIELDS = ["guest", "name", "kind", "key", "hosts", "start", "end", "status",
                 "event_ids", "attrs"]


def _during(start_col, end_col, since, until):
    """Intervals [start, end) that meet [since, until] (end NULL: still open)."""
    clauses = []
    if until is not None:
        clauses.append(start_col <= until)
    if since is not None:
        clauses.append(or_(end_col.is_(None), end_col > since))
    return and_(*clauses) if clauses else None


def attribution(session: Session, kind: str, value: str, at=None, since=None, until=None,
                host: str | None = None, limit: int = 500) -> dict:
    """Every guest that held the fact at ``at`` (or in [since, until]), newest stay first,
    with its hosts, the stay's interval and the events that prove it."""
    keys = lookup_keys(kind, value)
    if not keys:
        raise Invalid(f"{value!r} is not a {kind}", [{"field": kind, "message": "not a " + kind}])
    if kind == "port":
        keys = tuple(f"{host}:{k}" for k in keys)
    if at is not None:
        since = until = at
    stmt = (select(HeldFact, Guest.name).outerjoin(Guest, Guest.domain_uuid == HeldFact.domain_uuid)
            .where(HeldFact.kind == kind, HeldFact.key.in_(keys))
            .order_by(HeldFact.start.desc(), HeldFact.id.desc()))
    during = _during(HeldFact.start, HeldFact.end, since, until)
    if during is not None:
        stmt = stmt.where(during)
    holders = []
    for held, name in session.execute(stmt):
        if host and kind != "port" and host not in held.hosts:
            continue
        holders.append(_holder(held, name))
        if len(holders) >= limit:
            break
    return {"query": {"kind": kind, "value": value, "keys": list(keys), "host": host,
                      "at": iso(at) if at is not None and since == at else None,
                      "since": iso(since), "until": iso(until)},
            "holders": holders}


def _holder(held: HeldFact, name: str | None) -> dict:
    key = held.key.partition(":")[2] if held.kind == "port" else held.key
    # a guest seen only through a network's port: the name the port's owner has
    name = name or (held.attrs or {}).get("owner_name")
    return {"guest": held.domain_uuid, "name": name, "kind": held.kind, "key": key,
            "hosts": list(held.hosts), "start": iso(held.start), "end": iso(held.end),
            "status": held.status, "event_ids": list(held.event_ids), "attrs": dict(held.attrs)}


def flat_holder(row: dict) -> dict:
    """A holder as one CSV row: lists joined by spaces, attributes as name=value."""
    return {**row, "hosts": " ".join(row["hosts"]), "event_ids": " ".join(row["event_ids"]),
            "attrs": " ".join(f"{k}={v}" for k, v in sorted(row["attrs"].items()))}


def held_by_guest(session: Session, uuid: str) -> list[dict]:
    """A guest's facts, newest stay first (the guest page)."""
    rows = session.scalars(select(HeldFact).where(HeldFact.domain_uuid == uuid.lower())
                           .order_by(HeldFact.start.desc(), HeldFact.kind, HeldFact.key))
    return [_holder(r, None) for r in rows]


# Conflicts ---------------------------------------------------------------------------------------
def list_conflicts(session: Session, since=None, until=None, kind=None, ongoing=False,
                   limit: int = 500) -> dict:
    """Conflicts newest first; ``ongoing``: only those both guests still hold."""
    c = FactConflict
    stmt = select(c).order_by(c.start.desc(), c.id.desc()).limit(limit)
    during = _during(c.start, c.end, since, until)
    if during is not None:
        stmt = stmt.where(during)
    if kind:
        stmt = stmt.where(c.kind == kind)
    if ongoing:
        stmt = stmt.where(c.end.is_(None))
    rows = list(session.scalars(stmt))
    names = _names(session, {g for r in rows for g in (r.guest_a, r.guest_b)})
    return {"conflicts": [_conflict(r, names) for r in rows]}


def ongoing_conflicts(session: Session, limit: int = 5) -> dict:
    """The Overview's section: how many conflicts are ongoing, the newest few."""
    n = session.scalar(select(func.count()).select_from(FactConflict)
                       .where(FactConflict.end.is_(None)))
    return {"ongoing": n, "latest": list_conflicts(session, ongoing=True, limit=limit)["conflicts"]}


def _names(session: Session, uuids: set) -> dict:
    if not uuids:
        return {}
    return dict(session.execute(select(Guest.domain_uuid, Guest.name)
                                .where(Guest.domain_uuid.in_(sorted(uuids)))).all())


def _conflict(r: FactConflict, names: dict) -> dict:
    return {"id": r.id, "kind": r.kind, "key": r.key, "scope": r.scope,
            "guests": [{"guest": g, "name": names.get(g)} for g in (r.guest_a, r.guest_b)],
            "hosts": list(r.hosts), "start": iso(r.start), "end": iso(r.end),
            "ongoing": r.end is None, "detected_at": iso(r.detected_at),
            "ended_at": iso(r.ended_at)}


# Definition changes ----------------------------------------------------------------------------
def list_changes(session: Session, since=None, until=None, what=(), limit: int = 500,
                 guest: str | None = None) -> dict:
    """Boots whose definition differs from the previous boot's, newest first; ``what``:
    only those with a change in one of these categories (memory, vcpus, disks, ...)."""
    d = DefinitionChange
    stmt = select(d).where(d.categories != "").order_by(d.boot_start.desc(), d.id.desc())
    if guest:
        stmt = stmt.where(d.domain_uuid == guest.lower())
    if since is not None:
        stmt = stmt.where(d.boot_start >= since)
    if until is not None:
        stmt = stmt.where(d.boot_start <= until)
    if what:
        stmt = stmt.where(or_(*(d.categories.like(f"%,{w},%", escape=LIKE_ESCAPE)
                                for w in what)))
    rows = list(session.scalars(stmt.limit(limit)))
    names = _names(session, {r.domain_uuid for r in rows})
    return {"changes": [_change(r, names.get(r.domain_uuid)) for r in rows]}


def _change(r: DefinitionChange, name: str | None) -> dict:
    return {"guest": r.domain_uuid, "name": name, "boot_start": iso(r.boot_start),
            "hosts": list(r.hosts), "event_id": r.event_id,
            "categories": [c for c in r.categories.split(",") if c], "changes": list(r.changes)}


def changed_since_last_boot(session: Session, uuid: str) -> dict | None:
    """The guest's newest definition change when its newest boot is the one that changed."""
    newest = list_changes(session, guest=uuid, limit=1)["changes"]
    latest = session.scalar(select(func.max(HeldFact.start))
                            .where(HeldFact.domain_uuid == uuid.lower()))
    if newest and latest is not None and newest[0]["boot_start"] == iso(latest):
        return newest[0]
    return None

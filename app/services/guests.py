"""Guests: the list, one guest, and its timeline of boots across hosts."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Event, Guest, Host
from app.schemas_query import EventFilters, GuestQuery
from app.services.events import SUMMARY_COLUMNS, base_query, names_match, summary
from app.services.histogram import bucket_of, dense_buckets, grid
from app.services.paging import LIKE_ESCAPE, contains_pattern, keyset_page
from app.timeutil import iso
from hookshim.event import OUTCOMES

# Ops that begin a boot on a host, and how the boot began.
BOOT_START = {"prepare": "start", "migrate": "migration", "restore": "restore",
              "reconnect": "reconnect"}
# After these, a following `prepare` belongs to the same boot (incoming migration / restore).
JOINS_PREPARE = frozenset({"migrate", "restore"})
# All that grouping and the swimlane read of an event: no texts, blob keys or canonical form.
BOOT_COLUMNS = (Event.id, Event.event_id, Host.name.label("host"), Event.driver, Event.op,
                Event.extra, Event.started_at, Event.outcome)
BOOT_COLUMN_KEYS = tuple(c.key for c in BOOT_COLUMNS)


def guest_dict(row) -> dict:
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    for key in ("first_seen_at", "last_event_at", "conflict_at", "migrated_at"):
        data[key] = iso(data.get(key))
    return data


def list_guests(session: Session, p: GuestQuery) -> dict:
    """Guests, most recently active first (ix_guests_last_event_at), keyset paged."""
    g = Guest.__table__.c
    stmt = select(Guest.__table__)
    if p.q:
        stmt = stmt.where(g.name.ilike(contains_pattern(p.q), escape=LIKE_ESCAPE))
    if p.host:
        stmt = stmt.where(names_match(g.current_host, [p.host]))
    if p.state:
        stmt = stmt.where(g.state == p.state)
    if p.migrated is not None:   # true: ix_guests_migrated holds exactly these, in order
        stmt = stmt.where(g.migrated_at.isnot(None) if p.migrated else g.migrated_at.is_(None))
    return keyset_page(session, stmt, (g.last_event_at, g.domain_uuid), p, guest_dict)


def get_guest(session: Session, domain_uuid: str) -> dict | None:
    row = session.execute(select(Guest.__table__)
                          .where(Guest.domain_uuid == domain_uuid.lower())).first()
    return guest_dict(row) if row else None


def guest_timeline(session: Session, domain_uuid: str, max_events: int = 20000,
                   since=None, until=None) -> dict | None:
    """The guest's boots in time order, each a prepare→release run of events on one host;
    a boot that began with an incoming migration is linked to the boot it came from.
    ``since``/``until`` (naive UTC) limit the events read (the dashboard's time range)."""
    guest = get_guest(session, domain_uuid)
    if guest is None:
        return None
    return read_boots(session, guest, SUMMARY_COLUMNS, summary, max_events, since, until)


def guest_boots(session: Session, guest: dict, max_events: int = 20000,
                since=None, until=None) -> dict:
    """The dashboard's cut of ``guest_timeline``: the same boots over the same events, but
    each event only BOOT_COLUMNS (``started_at`` a datetime, ``id`` kept for
    ``event_summaries``). A 10,000-event guest read in full cost ~0.3 s of row conversion."""
    return read_boots(session, guest, BOOT_COLUMNS, _lean, max_events, since, until)


def _lean(row) -> dict:
    return dict(zip(BOOT_COLUMN_KEYS, row))   # plain dicts: Row._asdict cost more than the query


def read_boots(session: Session, guest: dict, columns, to_event, max_events: int,
               since, until) -> dict:
    """The one read of a guest's life: its first max_events + 1 events in time order (a Core
    result, no ORM layer), each ``to_event(row)``, grouped into boots."""
    stmt = base_query(session, EventFilters(guest=[guest["domain_uuid"]], since=since,
                                            until=until)).with_only_columns(*columns)
    stmt = stmt.order_by(Event.started_at, Event.id).limit(max_events + 1)
    rows = session.connection().execute(stmt).all()   # all(): one fetchall, not one per row
    events = [to_event(row) for row in rows]
    return {"guest": guest, "boots": group_boots(events[:max_events]),
            "truncated": len(events) > max_events}


def count_calls(session: Session, domain_uuid: str, since: datetime | None,
                until: datetime | None) -> int:
    """How many calls of the guest fall in since..until (ix_events_domain_started)."""
    stmt = select(func.count()).select_from(Event).where(Event.domain_uuid == domain_uuid)
    if since is not None:
        stmt = stmt.where(Event.started_at >= since)
    if until is not None:
        stmt = stmt.where(Event.started_at < until)
    return session.scalar(stmt)


def recent_boots(session: Session, guest: dict, limit: int, since: datetime | None,
                 until: datetime | None) -> dict:
    """The boots of the guest's newest ``limit`` calls in since..until: what the guest page
    lists when the range holds too many calls to draw a bar per boot.

    Grouped as ``read_boots`` groups the whole range: the window's calls are preceded by the
    guest's previous call on each of their hosts, which tells whether the host's first
    listed call opened a boot or continued one (and a ``prepare`` joined a migration). A
    boot that began before the window is marked ``began_before`` (its start is not read);
    a boot made of that previous call alone has no listed call and is dropped. A migration's
    source is the most recently opened boot on another host, as in the whole range, unless
    that host has no call in the window (then the source is not named)."""
    uuid = guest["domain_uuid"]
    stmt = base_query(session, EventFilters(guest=[uuid], since=since, until=until))
    rows = session.connection().execute(
        stmt.order_by(Event.started_at.desc(), Event.id.desc()).limit(limit)).all()
    # full summaries (the rows the page lists: no second read), with their row id
    window = [dict(summary(row), id=row.id) for row in reversed(rows)]
    if not rows:
        return {"guest": guest, "boots": [], "truncated": False}
    previous = _previous_calls(session, uuid, rows[-1], {row.host for row in rows})
    boots = group_boots(sorted(previous, key=lambda ev: (ev["started_at"], ev["id"]))
                        + window)
    before = {ev["event_id"] for ev in previous}
    kept = []
    for boot in boots:
        earlier = [ev for ev in boot["events"] if ev["event_id"] in before]
        if len(earlier) == len(boot["events"]):
            continue                       # the previous call's own boot: nothing listed
        if earlier:
            boot["began_before"] = True
            boot["events"] = [ev for ev in boot["events"] if ev["event_id"] not in before]
        kept.append(boot)
    # keep the indices (migration links) pointing into the kept list
    renumber = {boot["index"]: i for i, boot in enumerate(kept)}
    for boot in kept:
        boot["index"] = renumber[boot["index"]]
        for key in ("migrated_from", "migrated_to"):
            boot[key] = renumber.get(boot[key])
    return {"guest": guest, "boots": kept, "truncated": False}


def _previous_calls(session: Session, uuid: str, first, hosts: set[str]) -> list[dict]:
    """The guest's last call before the window's ``first`` row on each of ``hosts`` (the
    window's; lean rows: they group, they are not listed)."""
    out = []
    for host in sorted(hosts):
        stmt = (select(*BOOT_COLUMNS).join(Host, Host.id == Event.host_id)
                .where(Event.domain_uuid == uuid, Host.name == host,
                       (Event.started_at < first.started_at)
                       | ((Event.started_at == first.started_at) & (Event.id < first.id)))
                .order_by(Event.started_at.desc(), Event.id.desc()).limit(1))
        row = session.connection().execute(stmt).first()
        if row is not None:
            out.append(_lean(row))
    return out


def guest_density(session: Session, domain_uuid: str, since: datetime, until: datetime,
                  max_buckets: int = 120) -> dict:
    """The guest's calls per host, time bucket and outcome over since..until, counted in the
    database (GROUP BY on ix_events_domain_started, no rows read): the guest page's picture
    when the range holds more calls than it draws one by one. Hosts in order of their first
    call in the range; every bucket of the grid (app.services.histogram) per host."""
    t0, step, n = grid(since, until, max_buckets)
    bucket = bucket_of(Event.started_at, t0, step).label("bucket")
    stmt = (select(Event.host_id, bucket, Event.outcome, func.count()).select_from(Event)
            .where(Event.domain_uuid == domain_uuid, Event.started_at >= since,
                   Event.started_at < until)
            .group_by(Event.host_id, bucket, Event.outcome))
    rows = session.execute(stmt).all()
    per_host: dict[int, list] = {}
    for host_id, index, outcome, count in sorted(rows, key=lambda r: r[1]):
        per_host.setdefault(host_id, []).append((index, outcome, count))
    names = dict(session.execute(select(Host.id, Host.name)
                                 .where(Host.id.in_(list(per_host)))).all()) if per_host else {}
    hosts = [{"host": names.get(host_id, f"host #{host_id}"),
              "buckets": dense_buckets(counts, since, until, t0, step, n, OUTCOMES)}
             for host_id, counts in per_host.items()]
    for lane in hosts:
        lane["total"] = sum(b["total"] for b in lane["buckets"])
    return {"since": iso(since), "until": iso(until), "step_seconds": int(step.total_seconds()),
            "outcomes": list(OUTCOMES), "hosts": hosts,
            "total": sum(lane["total"] for lane in hosts)}


def event_summaries(session: Session, ids: list[int]) -> list[dict]:
    """Full summaries of the events with these row ids, in the order given."""
    if not ids:
        return []
    stmt = select(*SUMMARY_COLUMNS).join(Host, Host.id == Event.host_id).where(Event.id.in_(ids))
    by_id = {row.id: summary(row) for row in session.connection().execute(stmt)}
    return [by_id[i] for i in ids if i in by_id]


def group_boots(events: list[dict]) -> list[dict]:
    """Pure: events (time order, any hosts) -> boots with migrations stitched."""
    boots: list[dict] = []
    open_on: dict[str, dict] = {}   # host -> its open boot
    for ev in events:
        boot = open_on.get(ev["host"])
        if _starts_new_boot(boot, ev):
            if boot is not None:
                _close(boot, None, None)
            boot = _open(boots, open_on, ev)
        boot["events"].append(ev)
        _advance(boot, ev, open_on)
    return boots


def _starts_new_boot(boot: dict | None, ev: dict) -> bool:
    if boot is None:
        return True
    if ev["op"] not in BOOT_START:
        return False
    joins = ev["op"] == "prepare" and boot["events"][-1]["op"] in JOINS_PREPARE
    return not joins


def _open(boots: list[dict], open_on: dict, ev: dict) -> dict:
    boot = {"index": len(boots), "host": ev["host"], "via": BOOT_START.get(ev["op"], "unknown"),
            "started_at": ev["started_at"], "ended_at": None, "status": "running",
            "end_reason": None, "migrated_from": None, "migrated_to": None, "events": []}
    if ev["op"] == "migrate":
        # the most recently opened boot on another host: a host that never reported the
        # end of an older boot (it died) is not taken for the source of every later migration
        source = next((b for h, b in reversed(open_on.items()) if h != ev["host"]), None)
        if source is not None:
            boot["migrated_from"], source["migrated_to"] = source["index"], boot["index"]
    boots.append(boot)
    open_on[ev["host"]] = boot
    return boot


def _advance(boot: dict, ev: dict, open_on: dict) -> None:
    failed = ev["outcome"] != "ok"
    if ev["op"] in ("prepare", "start", "migrate", "restore") and failed \
            and ev["outcome"] != "failed_ignored":
        boot["status"] = "aborted"
    elif ev["op"] in ("started", "reconnect") and ev["outcome"] == "killed":
        boot["status"] = "killed"
    if closes_boot(ev):
        reason = ev["extra"] if ev["op"] != "prepare" and ev["extra"] != "-" else None
        _close(boot, ev["started_at"], reason)
        open_on.pop(ev["host"], None)


def closes_boot(ev: dict) -> bool:
    """The event ends its host's boot: a release, a failed migrate, or a refused libxl prepare
    (libxl: not followed by stopped/release, docs/libvirt-hooks.md). A boot whose last event
    is none of these is still open, or was superseded by the next boot on its host."""
    failed = ev["outcome"] != "ok"
    return ev["op"] == "release" or (ev["op"] == "migrate" and failed) or \
        (ev["op"] == "prepare" and failed and ev["driver"] == "libxl")


def _close(boot: dict, at: str | None, reason: str | None) -> None:
    boot["ended_at"] = at or boot["events"][-1]["started_at"]
    boot["end_reason"] = reason
    if boot["status"] == "running":
        boot["status"] = "ended"



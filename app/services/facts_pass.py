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
Each guest is recomputed from its last quiet point at or before the earliest event that
queued it (``facts_pending.since``; ``facts_cursors``), with the same result as from all its
events (recompute_guests). A queued network (its hook calls are stored under its UUID) gives
the MACs of its ports to their owners and its DHCP entries to itself (app/facts/networks.py).
Crash-safe and idempotent: the queue rows are deleted in the transaction that wrote the
results, and only differences are written, so a pass that dies is simply done again.
Ingest never waits for a pass (run_pass): it computes in a read transaction and writes in a
short one that first checks the queue rows and cursors it read are unchanged. One pass at a
time per database: an advisory lock on PostgreSQL, a lock file beside a SQLite database.
"""
import fcntl
import json as _json
import logging
import threading
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from json.encoder import c_make_encoder, encode_basestring_ascii

from sqlalchemy import (JSON, and_, bindparam, delete, func, insert, or_, select, text, tuple_,
                        update)
from sqlalchemy.orm import Session

from app.db import Database
from app.facts import FactsError, extract_facts
from app.facts.collisions import Holding, Segments, find_conflicts, per_segment
from app.facts.drift import definition_drift
from app.facts.intervals import quiet_points, stay_intervals, stitch
from app.facts.networks import network_intervals
from app.facts.model import Fact
from app.models import (DefinitionChange, Event, FactConflict, FactsCursor, FactSet,
                        FactsPending, Guest, HeldFact, Host, XmlBlob)
from app.services.bulk import executemany, insert_ignore, member_of
from app.timeutil import iso, utcnow

log = logging.getLogger("hookaudit.facts")

# The calls whose XML can open or change a holding; stopped/release end the boot anyway.
EXTRACT_OPS = frozenset({"prepare", "start", "started", "migrate", "restore", "reconnect"})
COLLIDING_KINDS = ("mac", "disk")
MAX_GUEST_EVENTS = 20000        # as the timeline: a guest's history read per recompute
ALERT_RECENT = timedelta(hours=24)   # older starts/ends (a backfill) are recorded, not alerted
PASS_LOCK_ID = 170017           # pg advisory lock: one facts pass at a time per database
MAX_CONFLICTS = 5               # passes in a row that found their queue rows changed
EVENT_COLUMNS = (Event.event_id, Host.name.label("host"), Event.driver, Event.op, Event.subop,
                 Event.extra, Event.started_at, Event.outcome, Event.xml_blob)


@dataclass
class PassResult:
    guests: int = 0
    extracted: int = 0
    signals: list[dict] = field(default_factory=list)   # conflict started / ended
    conflicts: int = 0      # passes whose queue rows changed under them (nothing written)


def queue_guests(session: Session, uuids, now: datetime, since: dict | None = None) -> None:
    """Ingest's part: the guests of a stored batch need their facts recomputed. ``since``:
    uuid -> the earliest started_at of its new events (absent: recompute from all events)."""
    since = since or {}
    rows = [{"domain_uuid": u, "queued_at": now, "since": since.get(u)}
            for u in sorted(set(uuids))]
    if rows:
        session.execute(insert(FactsPending), rows)


def pending_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(FactsPending))


def has_pending(db: Database) -> bool:
    """Is anything queued? A read, so a polling worker never takes SQLite's write lock idle."""
    with db.session() as s:
        return s.scalar(select(FactsPending.id).limit(1)) is not None


def catch_up(db: Database, guests_per_pass: int = 50,
             on_signal: Callable[[dict], None] | None = None,
             segments: Segments = Segments(),
             stopping: Callable[[], bool] | None = None) -> PassResult:
    """Run passes until nothing is queued (the backfill, the worker, `hookaudit facts`).
    ``segments``: which networks are host-local besides what their XML says (settings).
    ``stopping``: asked between passes; true ends the catch-up early (the rest stays queued).
    A pass whose queue rows changed under it (run_pass) is run again, at most
    MAX_CONFLICTS times in a row (then the rows stay queued for the next catch-up)."""
    total, conflicts = PassResult(), 0
    while stopping is None or not stopping():
        result = run_pass(db, guests_per_pass, segments)
        total.guests += result.guests
        total.extracted += result.extracted
        total.signals += result.signals
        total.conflicts += result.conflicts
        for signal in result.signals:
            if on_signal is not None:
                on_signal(signal)
        conflicts = conflicts + 1 if result.conflicts else 0
        if not result.guests and not 0 < conflicts < MAX_CONFLICTS:
            return total
    return total


def recheck_conflicts(db: Database, segments: Segments = Segments(),
                      on_signal: Callable[[dict], None] | None = None) -> PassResult:
    """Re-derive the conflicts of every MAC and disk key from the held facts (after a change
    of the host-local / shared network settings): conflicts that still hold keep their rows
    (no new alert), the others go, new ones start."""
    result = PassResult()
    with db.session() as s:
        t = HeldFact.__table__.c
        keys = [tuple(k) for k in s.execute(select(t.kind, t.key).distinct().where(
            t.kind.in_(COLLIDING_KINDS)))]
    for first in range(0, len(keys), 1000):
        with _pass_lock(db) if db.is_sqlite else nullcontext(), db.session(write=True) as s:
            if not db.is_sqlite:
                s.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PASS_LOCK_ID})
            plan = _Plan([], [], {}, result)
            _refresh_conflicts(s, dict.fromkeys(keys[first:first + 1000], datetime.min),
                               utcnow(), plan, segments, _HeldView())
            _apply_conflicts(s, plan)
    for signal in result.signals:
        if on_signal is not None:
            on_signal(signal)
    return result


def run_pass(db: Database, max_guests: int = 50, segments: Segments = Segments(),
             between: Callable[[], None] | None = None) -> PassResult:
    """Recompute up to ``max_guests`` queued guests, in two phases:
    - *compute*: read the queue, the guests' events and their stored facts and work out every
      row to write (``_Plan``), in a read transaction: on SQLite (WAL) ingest commits
      meanwhile, the write lock is not taken;
    - *write*: one short write transaction that first checks that the queue rows and cursors
      the plan consumed are unchanged (``_unchanged``: optimistic concurrency), then writes
      the plan with a few Core statements. On a conflict nothing is written, the rows stay
      queued and the result says ``conflicts`` = 1 (catch_up computes them anew).
    Passes never overlap (they read and write the same derived rows): on SQLite a lock file
    beside the database (``_pass_lock``), taken around both phases, never the write lock; on
    PostgreSQL a transaction-level advisory lock, both phases in its one transaction (MVCC:
    ingest never waits for it). ``between``: called between the phases (tests)."""
    now = utcnow()
    if not db.is_sqlite:
        with db.session(write=True) as s:   # another process's pass: wait for it, then go on
            s.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PASS_LOCK_ID})
            plan = _plan(s, max_guests, now, segments)
            if plan is None:
                return PassResult()
            if between is not None:
                between()
            if not _unchanged(s, plan):
                return PassResult(conflicts=1)
            _apply(s, plan)
        return plan.result
    with _pass_lock(db):
        with db.session() as s:     # a read transaction: one snapshot, no write lock
            plan = _plan(s, max_guests, now, segments)
        if plan is None:
            return PassResult()
        if between is not None:
            between()
        with db.session(write=True) as s:
            if not _unchanged(s, plan):
                log.info("facts pass: the queue changed under it; computing again")
                return PassResult(conflicts=1)
            _apply(s, plan)
    return plan.result


_MEMORY_LOCK = threading.Lock()


@contextmanager
def _pass_lock(db: Database):
    """One facts pass at a time on this SQLite database, across threads and processes: an
    exclusive flock on ``<database>-facts.lock`` (another pass waits, ingest never does)."""
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        with _MEMORY_LOCK:
            yield
        return
    with open(path + "-facts.lock", "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@dataclass
class _Plan:
    """What a pass writes, worked out in its compute phase (all of it from one snapshot)."""
    guests: list[str]
    pending_ids: list[int]                  # the queue rows consumed (deleted on write)
    cursors: dict                           # uuid -> quiet points as read (checked on write)
    result: PassResult = field(default_factory=PassResult)
    fact_sets: list[dict] = field(default_factory=list)
    held_gone: list[int] = field(default_factory=list)
    held_new: list[dict] = field(default_factory=list)
    conflicts_gone: list[int] = field(default_factory=list)
    conflicts_changed: list[dict] = field(default_factory=list)   # b_id, b_hosts, b_end, ...
    conflicts_new: list[dict] = field(default_factory=list)
    changes_gone: list[int] = field(default_factory=list)
    changes_new: list[dict] = field(default_factory=list)
    cursor_rows: list[dict] = field(default_factory=list)
    # SQLite: table name -> (INSERT, rows as the driver takes them), made in the compute phase
    driver: dict[str, tuple[str, list[tuple]]] = field(default_factory=dict)


def _plan(s: Session, max_guests: int, now: datetime, segments: Segments) -> "_Plan | None":
    """The compute phase: the oldest queued guests (None: nothing queued) and their rows."""
    guests = list(s.scalars(select(FactsPending.domain_uuid).group_by(
        FactsPending.domain_uuid).order_by(func.min(FactsPending.id)).limit(max_guests)))
    if not guests:
        return None
    # The rows handled now: later ones (a batch committed meanwhile) wait for the next pass.
    ids, since = [], {}
    for row_id, uuid, at in s.execute(select(
            FactsPending.id, FactsPending.domain_uuid, FactsPending.since).where(
            member_of(s, FactsPending.domain_uuid, guests))):
        ids.append(row_id)
        # the earliest new event of the guest; None (any row without one): all events
        since[uuid] = None if at is None or since.get(uuid, at) is None \
            else min(at, since.get(uuid, at))
    plan = _Plan(guests, ids, _cursors(s, guests))
    recompute_guests(s, plan, now, since, segments)
    plan.result.guests = len(guests)
    if s.bind.dialect.name == "sqlite":
        _render(plan, s.bind.dialect)
    return plan


def _inserts(plan: _Plan):
    """(table, rows, ignore duplicates) of a plan's inserts."""
    return ((FactSet.__table__, plan.fact_sets, True), (HeldFact.__table__, plan.held_new, False),
            (FactConflict.__table__, plan.conflicts_new, False),
            (DefinitionChange.__table__, plan.changes_new, False),
            (FactsCursor.__table__, plan.cursor_rows, False))


def _render(plan: _Plan, dialect) -> None:
    """SQLite: turn the plan's rows into the driver's parameters now, with each column's own
    bind processor (JSON text, datetime text exactly as SQLAlchemy stores them), so the
    write phase, which holds the one write lock, only runs the executemany."""
    json = dialect._json_serializer in (None, _json.dumps)
    for table, rows, ignore in _inserts(plan):
        if not rows:
            continue
        names = list(rows[0])
        procs = [_json_text if json and isinstance(table.c[n].type, JSON) else
                 table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names]
        sql = "INSERT %sINTO %s (%s) VALUES (%s)" % (
            "OR IGNORE " if ignore else "", table.name, ", ".join(f'"{n}"' for n in names),
            ", ".join("?" * len(names)))
        plan.driver[table.name] = (sql, [
            tuple(v if p is None else p(v) for p, v in zip(procs, map(r.__getitem__, names)))
            for r in rows])


# json.dumps's own output (SQLAlchemy's JSON serializer), from one reused C encoder:
# json.dumps builds a new one per call (bulk.py).
_C_ENCODE = c_make_encoder(None, _json.JSONEncoder().default, encode_basestring_ascii, None,
                           ": ", ", ", False, False, True)


def _json_text(value) -> str:
    return "".join(_C_ENCODE(value, 0))


def _insert(s: Session, plan: _Plan, table, rows: list[dict], ignore: bool = False) -> None:
    """Write phase: the rendered executemany (SQLite), else COPY / a Core executemany."""
    if not rows:
        return
    if table.name in plan.driver:
        s.connection().exec_driver_sql(*plan.driver[table.name])
    elif ignore:
        s.execute(insert_ignore(s, table, list(table.primary_key.columns.keys())), rows)
    else:   # COPY on PostgreSQL
        executemany(s, table, rows)


def _unchanged(s: Session, plan: _Plan) -> bool:
    """In the write transaction, before writing: are the queue rows the plan consumed all
    still there (no other pass took them) and its guests' cursors as it read them? The
    rows are locked on PostgreSQL (FOR UPDATE; SQLite's write lock covers the table)."""
    t = FactsPending.__table__.c
    there = 0
    for first in range(0, len(plan.pending_ids), 5000):
        chunk = plan.pending_ids[first:first + 5000]
        there += len(s.execute(select(t.id).where(member_of(s, t.id, chunk))
                               .with_for_update()).all())
    if there != len(plan.pending_ids):
        return False
    c = FactsCursor.__table__.c
    now = dict(s.execute(select(c.domain_uuid, c.quiet).where(
        member_of(s, c.domain_uuid, plan.guests)).with_for_update()).all())
    return now == plan.cursors


def _apply(s: Session, plan: _Plan) -> None:
    """The write phase: a handful of Core statements (executemany / COPY), no ORM objects."""
    _insert(s, plan, FactSet.__table__, plan.fact_sets, ignore=True)
    _delete_ids(s, HeldFact, plan.held_gone)
    _insert(s, plan, HeldFact.__table__, plan.held_new)
    _apply_conflicts(s, plan)
    _delete_ids(s, DefinitionChange, plan.changes_gone)
    _insert(s, plan, DefinitionChange.__table__, plan.changes_new)
    if plan.cursor_rows:
        s.execute(delete(FactsCursor).where(member_of(
            s, FactsCursor.domain_uuid, [r["domain_uuid"] for r in plan.cursor_rows])))
        _insert(s, plan, FactsCursor.__table__, plan.cursor_rows)
    _delete_ids(s, FactsPending, plan.pending_ids)


def _delete_ids(s: Session, model, ids: list[int]) -> None:
    for first in range(0, len(ids), 5000):
        s.execute(delete(model).where(model.id.in_(ids[first:first + 5000])))


def recompute_guests(s: Session, plan: _Plan, now: datetime, since: dict | None = None,
                     segments: Segments = Segments()) -> None:
    """Work out the rows of ``plan.guests`` from their events, a few statements for all of
    them: the cost of a pass is per statement far more than per row (bench/facts_ingest.py).
    Reads only; ``_apply`` writes what it put in ``plan``.

    ``since``: uuid -> the earliest started_at of the events that queued it (None or absent:
    all its events). A guest is recomputed from its last quiet point at or before that time
    (``intervals.quiet_points``, kept in ``facts_cursors``): nothing before such a point
    depends on later events, so the rows of the stays before it are kept as they are and the
    result is the same as a recompute from all events (tests/facts/test_incremental.py).

    A queued UUID may be a network's (its hook calls are stored under it): a network is
    recomputed from all its events (app/facts/networks.py), its rows held by itself (the
    network, its DHCP entries) or by the guests that own its ports, with ``source`` = it."""
    since, guests, cursors = since or {}, plan.guests, plan.cursors
    networks = _networks(s, guests)
    start_of = {u: None if u in networks else _start_point(cursors.get(u), since.get(u))
                for u in guests}
    events_of = _events_of(s, guests, {u: p[0] for u, p in start_of.items() if p})
    facts = _facts_of(s, {e["xml_blob"] for evs in events_of.values() for e in evs
                          if _extracts(e)}, now, plan)
    old_of = _held_rows(s, guests, start_of, networks)
    gone, rows, keys, stays_of, quiet_of, networks_changed = [], [], {}, {}, {}, set()
    for uuid in guests:
        events = events_of.get(uuid, [])
        for e in events:
            found = facts.get(e["xml_blob"]) if _extracts(e) else None
            e["facts"] = None if found is None else _host_qualified(found, e["host"])
        if uuid in networks:
            stays_of[uuid] = []
            held = [_held_row(holder, i, uuid) for holder, i in network_intervals(uuid, events)]
        else:
            stays_of[uuid] = stays = stitch(events)
            held = [_held_row(uuid, i) for i in stay_intervals(stays)]
        new = {_comparable(r): r for r in held}
        old = {_comparable(r): r for r in old_of.get(uuid, [])}
        # Only what changed is written: most batches only add calls to a guest's last boot.
        gone += [r["id"] for k, r in old.items() if k not in new]
        rows += [r for k, r in new.items() if k not in old]
        # A key's conflicts are re-derived when what they depend on changed (not when a
        # row only gained a proving event or an attribute such as the tap device).
        sides: dict[tuple, list] = {}
        for k, r in (*old.items(), *new.items()):
            if k in new and k in old:
                continue
            if r["kind"] in COLLIDING_KINDS:
                sides.setdefault((r["kind"], r["key"]), [[], []])[k in new].append(r)
            elif r["kind"] == "network":
                networks_changed.add(r["key"])
        for key, (removed, added) in sides.items():
            if sorted(map(_collision_view, removed)) != sorted(map(_collision_view, added)):
                start = min(r["start"] for r in (*removed, *added))
                keys[key] = min(keys.get(key, start), start)
    plan.held_gone, plan.held_new = gone, rows
    # What follows reads held_facts as the write will leave them: the stored rows but
    # ``gone``, plus ``rows`` (nothing is written before the write phase).
    view = _HeldView(gone, rows)
    if networks_changed:    # whether the network is host-local may have changed
        for key in _macs_on(s, networks_changed, view):
            keys[key] = datetime.min
    if keys:
        _refresh_conflicts(s, keys, now, plan, segments, view)
    _refresh_changes(s, guests, stays_of, start_of, quiet_of, plan)
    plan.cursor_rows = _cursor_rows(guests, cursors, start_of, quiet_of)


class _HeldView:
    """held_facts as a plan will leave them: stored rows minus ``gone`` ids, plus ``new``."""

    def __init__(self, gone=(), new=()):
        self.gone = set(gone)
        self.new = list(new)
        self.by_key: dict[tuple, list[dict]] = {}
        for r in self.new:
            self.by_key.setdefault((r["kind"], r["key"]), []).append(r)

    def stored(self, rows):
        """The stored rows (with an ``id`` column) that are not gone."""
        return [r for r in rows if r.id not in self.gone]


HELD_COLUMNS = ("domain_uuid", "kind", "key", "hosts", "start", "end", "status", "attrs",
                "event_ids")


def _collision_view(row: dict) -> tuple:
    """What a row's conflicts depend on (collisions.Holding, plus whether it counts)."""
    a = row["attrs"]
    return (row["domain_uuid"], tuple(row["hosts"]), row["start"],
            row["end"] or datetime.max, row["status"] == "aborted", a.get("scope") or "",
            a.get("writable") == "yes", a.get("shareable") == "yes")


def _macs_on(s: Session, names: set[str], view: "_HeldView") -> set[tuple[str, str]]:
    """The MAC keys ever held on these networks (a scan of the MAC rows: only when what a
    network's XML says about it changed, which is rare), in ``view``."""
    t = HeldFact.__table__.c
    scopes = sorted("network:" + n for n in names)
    stored = view.stored(s.execute(select(t.id, t.key).where(
        t.kind == "mac", t.attrs["scope"].as_string().in_(scopes))))
    return {("mac", r.key) for r in stored} | {
        ("mac", r["key"]) for r in view.new
        if r["kind"] == "mac" and (r["attrs"] or {}).get("scope") in scopes}


def _extracts(e: dict) -> bool:
    """Whether this call's XML is read for facts: a guest's calls that can open or change a
    holding; every network call but ``stopped`` (each carries the network and its port)."""
    if not e["xml_blob"]:
        return False
    return e["op"] != "stopped" if e["driver"] == "network" else e["op"] in EXTRACT_OPS


def _networks(s: Session, units: list[str]) -> set[str]:
    """The queued UUIDs that are networks (their guests row says driver network)."""
    return set(s.scalars(select(Guest.domain_uuid).where(
        member_of(s, Guest.domain_uuid, units), Guest.driver == "network")))
MAX_QUIET_POINTS = 64       # per guest: a backlog older than the oldest kept is a full recompute
QUIET_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"     # fixed width: the stored strings sort as times do


def _cursors(s: Session, guests: list[str]) -> dict[str, list[list]]:
    """uuid -> its quiet points [[time text, definition sha before it]], ascending."""
    return dict(s.execute(select(FactsCursor.domain_uuid, FactsCursor.quiet).where(
        member_of(s, FactsCursor.domain_uuid, guests))).all())


def _start_point(quiet: list[list] | None, since: datetime | None) -> tuple | None:
    """The last quiet point at or before ``since``: (time, definition sha before it); None:
    recompute from all events (no cursor yet, nothing queued with a time, or older)."""
    if not quiet or since is None:
        return None
    at = bisect_right(quiet, since.strftime(QUIET_FORMAT), key=lambda p: p[0])
    return None if at == 0 else (datetime.strptime(quiet[at - 1][0], QUIET_FORMAT),
                                 quiet[at - 1][1])


def _cursor_rows(guests, cursors, start_of, quiet_of) -> list[dict]:
    """The cursors to write: the points before the window stay valid (nothing before them
    changed); the window's own are recomputed."""
    rows = []
    for uuid in guests:
        start, old = start_of.get(uuid), cursors.get(uuid, [])
        kept = old[:bisect_left(old, start[0].strftime(QUIET_FORMAT), key=lambda p: p[0])] \
            if start is not None else []
        quiet = (kept + [[at.strftime(QUIET_FORMAT), sha]
                         for at, sha in quiet_of.get(uuid, [])])[-MAX_QUIET_POINTS:]
        if quiet != old:
            rows.append({"domain_uuid": uuid, "quiet": quiet})
    return rows


def _held_rows(s: Session, guests: list[str], start_of: dict,
               networks: set[str] = frozenset()) -> dict[str, list[dict]]:
    """The stored rows of the stays being recomputed: a fact of a stay before the window
    started before the window's first point; one of a stay in it, at or after it. A
    network's: every row it is the source of."""
    table = HeldFact.__table__
    domains = [u for u in guests if u not in networks]
    where = [and_(_per_guest(s, table.c.domain_uuid, table.c.start, domains, start_of),
                  table.c.source.is_(None))] if domains else []
    if networks:
        where.append(member_of(s, table.c.source, sorted(networks)))
    stmt = select(table.c.id, table.c.source, *(table.c[c] for c in HELD_COLUMNS)).where(
        or_(*where))
    out: dict[str, list[dict]] = {}
    for row in s.execute(stmt):
        data = dict(row._mapping)
        out.setdefault(data.pop("source") or data["domain_uuid"], []).append(data)
    return out


def _per_guest(s: Session, uuid_col, time_col, guests: list[str], start_of: dict):
    """``uuid_col`` is one of ``guests`` and ``time_col`` is at or after its window's start."""
    full = [u for u in guests if start_of.get(u) is None]
    clauses = [member_of(s, uuid_col, full)] if full else []
    clauses += [and_(uuid_col == u, time_col >= start_of[u][0]) for u in guests
                if start_of.get(u) is not None]
    return or_(*clauses)


def _comparable(row: dict) -> tuple:
    """A held row as a hashable value (JSON columns as tuples), equal for equal rows."""
    return (row["domain_uuid"], row["kind"], row["key"], tuple(row["hosts"]), row["start"],
            row["end"],
            row["status"], tuple(sorted(row["attrs"].items())), tuple(row["event_ids"]))


def _events_of(s: Session, guests: list[str], since: dict | None = None) -> dict[str, list]:
    """Each guest's events in time order, from ``since[uuid]`` when given (at most
    MAX_GUEST_EVENTS, the oldest)."""
    since = since or {}
    starts = {u: (since[u],) for u in since}
    stmt = (select(Event.domain_uuid, *EVENT_COLUMNS).join(Host, Host.id == Event.host_id)
            .where(_per_guest(s, Event.domain_uuid, Event.started_at, guests, starts))
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


def _facts_of(s: Session, shas: set, now: datetime, plan: "_Plan") -> dict:
    """sha256 -> facts (None: unreadable), extracting each XML body only the first time (the
    new ``fact_sets`` rows go in ``plan``)."""
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
    plan.fact_sets += rows
    plan.result.extracted += len(rows)
    return known


def _held_row(uuid: str, i, source: str | None = None) -> dict:
    return {"kind": i.fact.kind, "key": i.fact.key, "domain_uuid": uuid, "hosts": list(i.hosts),
            "start": i.start, "end": i.end, "status": i.status, "attrs": i.fact.attributes,
            "event_ids": [e for e in i.event_ids if e], "source": source}


# Conflicts ---------------------------------------------------------------------------------------
def _conflict_identity(kind, key, scope, a, b, start) -> tuple:
    return (kind, key, scope, a, b, start)


def _refresh_conflicts(s: Session, changed: dict, now, plan: "_Plan",
                       segments: Segments, view: "_HeldView") -> None:
    """Re-derive the conflicts of the keys whose rows changed (held_facts as ``view`` says)
    and put what brings the table in line in ``plan`` (signals in ``plan.result``).

    ``changed``: (kind, key) -> the earliest start of a row added or removed. A conflict is an
    overlap of two rows and starts with the later one, so one that starts before that time
    involves unchanged rows only and stays as it is; one that starts at or after it involves
    rows that still held the key then (end NULL or later): only those are read."""
    t, ct = HeldFact.__table__.c, FactConflict.__table__.c
    result = plan.result
    ordered = sorted(changed)
    for first in range(0, len(ordered), 200):
        chunk = ordered[first:first + 200]
        # one cheap statement per chunk (its earliest time); the exact bound per key below
        since = min(changed[k] for k in chunk)
        holds = [(h.kind, h.key, h.domain_uuid, h.hosts, h.start, h.end, h.attrs)
                 for h in view.stored(s.execute(
                     select(t.id, t.kind, t.key, t.domain_uuid, t.hosts, t.start, t.end,
                            t.attrs).where(tuple_(t.kind, t.key).in_(chunk),
                                           t.status != "aborted",
                                           or_(t.end.is_(None), t.end > since))))]
        holds += [(r["kind"], r["key"], r["domain_uuid"], r["hosts"], r["start"], r["end"],
                   r["attrs"]) for k in chunk for r in view.by_key.get(k, ())
                  if r["status"] != "aborted" and (r["end"] is None or r["end"] > since)]
        holdings = [_holding(*h) for h in holds if h[5] is None or h[5] > changed[h[0], h[1]]]
        holdings = _by_segment(s, holdings, segments, view)
        found = [c for c in find_conflicts(holdings) if c.start >= changed[c.kind, c.key]]
        new = {_conflict_identity(c.kind, c.key, c.scope, *c.guests, c.start): c for c in found}
        old = {_conflict_identity(r.kind, r.key, r.scope, r.guest_a, r.guest_b, r.start): r
               for r in s.execute(select(ct.id, ct.kind, ct.key, ct.scope, ct.guest_a,
                                         ct.guest_b, ct.hosts, ct.start, ct.end, ct.ended_at)
                                  .where(tuple_(ct.kind, ct.key).in_(chunk),
                                         ct.start >= since))
               if r.start >= changed[r.kind, r.key]}
        for ident, row in old.items():
            if ident not in new:
                plan.conflicts_gone.append(row.id)
                continue
            c = new[ident]
            if list(row.hosts) == list(c.hosts) and row.end == c.end:
                continue
            # a holder migrated meanwhile (hosts), or its end appeared or moved
            ended_at = row.ended_at if row.end == c.end else now if c.end else None
            plan.conflicts_changed.append({"b_id": row.id, "b_hosts": list(c.hosts),
                                           "b_end": c.end, "b_ended_at": ended_at})
            if row.end != c.end and c.end is not None and now - c.end <= ALERT_RECENT:
                result.signals.append(_signal("ended", {**row._mapping, "hosts": c.hosts,
                                                        "end": c.end}))
        for ident in new.keys() - old.keys():
            c = new[ident]
            row = {"kind": c.kind, "key": c.key, "scope": c.scope, "guest_a": c.guests[0],
                   "guest_b": c.guests[1], "hosts": list(c.hosts), "start": c.start,
                   "end": c.end, "detected_at": now, "ended_at": now if c.end else None}
            plan.conflicts_new.append(row)
            if now - c.start <= ALERT_RECENT:
                result.signals.append(_signal("started", row))
            if c.end is not None and now - c.end <= ALERT_RECENT:
                result.signals.append(_signal("ended", row))


def _apply_conflicts(s: Session, plan: "_Plan") -> None:
    table = FactConflict.__table__
    _delete_ids(s, FactConflict, plan.conflicts_gone)
    if plan.conflicts_changed:
        s.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            hosts=bindparam("b_hosts"), end=bindparam("b_end"),
            ended_at=bindparam("b_ended_at")), plan.conflicts_changed)
    _insert(s, plan, table, plan.conflicts_new)


def _by_segment(s: Session, holdings: list[Holding], segments: Segments,
                view: "_HeldView") -> list[Holding]:
    """Each MAC holding on a host-local segment scoped to its host (collisions.per_segment):
    what the network's latest XML on that host says (its ``network`` fact), unless the
    operator's settings say otherwise."""
    names = {h.scope.partition(":")[2] for h in holdings
             if h.kind == "mac" and h.scope and h.scope.startswith("network:")}
    evidence: dict[tuple[str, str], str | None] = {}
    if names:
        t = HeldFact.__table__.c
        rows = [(r.start, r.key, r.hosts, r.attrs) for r in view.stored(s.execute(
            select(t.id, t.start, t.key, t.hosts, t.attrs).where(
                t.kind == "network", t.key.in_(sorted(names))).order_by(t.start)))]
        rows += [(r["start"], r["key"], r["hosts"], r["attrs"]) for name in sorted(names)
                 for r in view.by_key.get(("network", name), ())]
        rows.sort(key=lambda r: r[0])
        for _start, key, hosts, attrs in rows:
            for host in hosts:      # the latest start wins
                evidence[host, key] = (attrs or {}).get("segment")
    out = []
    for h in holdings:
        name = h.scope.partition(":")[2] if h.scope else ""
        out += per_segment(h, lambda host, h=h, name=name: segments.is_local(
            h.scope, evidence.get((host, name))))
    return out


def _holding(kind, key, guest, hosts, start, end, attrs) -> Holding:
    attrs = attrs or {}
    return Holding(kind, key, guest, tuple(hosts), start, end, attrs.get("scope"),
                   attrs.get("writable") == "yes", attrs.get("shareable") == "yes")


def _signal(state: str, row) -> dict:
    return {"state": state, "kind": row["kind"], "key": row["key"], "scope": row["scope"],
            "guests": [row["guest_a"], row["guest_b"]], "hosts": list(row["hosts"]),
            "start": iso(row["start"]), "end": iso(row["end"])}


# Definition changes --------------------------------------------------------------------------
def _refresh_changes(s: Session, guests: list[str], stays_of: dict, start_of: dict,
                     quiet_of: dict, plan: "_Plan") -> None:
    """One row per boot whose definition (its first XML) differs from the previous boot's;
    each pair of XML bodies is compared once (the rows are kept). Only the window's boots are
    compared, the first with the definition before the window (kept with its quiet point);
    ``quiet_of`` gets the window's quiet points, each with the definition before it."""
    cached: dict[str, dict] = {}
    t = DefinitionChange.__table__.c
    for r in s.execute(select(t.id, t.domain_uuid, t.boot_start, t.before_sha, t.after_sha)
                       .where(_per_guest(s, t.domain_uuid, t.boot_start, guests, start_of))):
        cached.setdefault(r.domain_uuid, {})[(r.boot_start, r.before_sha, r.after_sha)] = r.id
    for uuid in guests:
        stays, start = stays_of.get(uuid, []), start_of.get(uuid)
        prev = {"sha": start[1]} if start is not None and start[1] else None
        points, quiet = iter(quiet_points(stays)), []
        point = next(points, None)
        mine, keep = cached.get(uuid, {}), set()
        for stay in stays:
            while point is not None and point <= stay.start:
                quiet.append((point, prev["sha"] if prev else None))
                point = next(points, None)
            cur = _definition(stay)
            if cur is None:
                continue
            if prev is not None and prev["sha"] != cur["sha"]:
                ident = (cur["start"], prev["sha"], cur["sha"])
                keep.add(ident)
                if ident not in mine:
                    plan.changes_new.append(_change_row(s, uuid, prev, cur))
            prev = cur
        quiet_of[uuid] = quiet
        plan.changes_gone += [row_id for ident, row_id in mine.items() if ident not in keep]


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


def _change_row(s: Session, uuid: str, prev: dict, cur: dict) -> dict:
    try:
        drift = definition_drift(_xml(s, prev["sha"]), _xml(s, cur["sha"]))
        changes = [{"category": c.category, "item": c.item, "action": c.action,
                    "before": c.before, "after": c.after} for c in drift.changes]
    except (FactsError, zlib.error, TypeError) as exc:   # TypeError: the blob was pruned
        log.info("no drift for %s at %s: %s", uuid, cur["start"], exc)
        changes = []
    categories = sorted({c["category"] for c in changes})
    return {"domain_uuid": uuid, "boot_start": cur["start"], "hosts": cur["hosts"],
            "before_sha": prev["sha"], "after_sha": cur["sha"], "event_id": cur["event_id"],
            "changes": changes,
            "categories": "," + ",".join(categories) + "," if categories else ""}


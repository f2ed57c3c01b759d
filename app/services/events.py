"""Events: filtered pages (keyset on started_at, id), streaming exports, one event in full."""
import difflib
import re
import zlib
from collections.abc import Iterator

from sqlalchemy import ColumnElement, Select, and_, false, or_, select, text, tuple_
from sqlalchemy.orm import Session, aliased

from app.db import Database
from app.models import ABORT_OUTCOMES, ChainProblem, Event, Host, PolicyDecision, XmlBlob
from app.schemas_query import EventFilters, PageParams
from app.services.paging import LIKE_ESCAPE, contains_pattern, glob_pattern, is_glob, keyset_page
from app.timeutil import iso
from hookshim.outcome import DRIVERS, ROWS

# The ops and drivers libvirt calls hooks with (hookshim/outcome.py, read in libvirt's source)
# and the shim's own spool_reset marker. Any other op is stored as sent but flagged
# (``known_op``), and /metrics counts it as "other": a host cannot grow the label set.
KNOWN_OPS = frozenset({row.op for row in ROWS} | {"spool_reset"})
KNOWN_DRIVERS = frozenset(set(DRIVERS) | {"hookshim"})

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SUMMARY_COLUMNS = (
    Event.id, Event.event_id, Host.name.label("host"), Event.seq, Event.kind, Event.driver,
    Event.object, Event.op, Event.subop, Event.extra, Event.domain_uuid, Event.started_at,
    Event.duration_ms, Event.exit_code, Event.outcome, Event.reason, Event.stderr,
    Event.xml_blob.label("xml_sha256"), Event.output_xml_blob.label("output_xml_sha256"),
    Event.xml_truncated, Event.redactions, Event.policy_bundle_version, Event.dropped,
    Event.shim_version, Event.chain_ok, Event.received_at, Event.clock_skew,
    Event.host_started_at,
)
# Exports add the decisions that were not "allow": rule ids and their verdicts (VERDICTS),
# in decision order, each list joined with ";".
DECISION_FIELDS = ("rule_id", "verdict")
EXPORT_FIELDS = [c.key for c in SUMMARY_COLUMNS if c.key != "id"] + list(DECISION_FIELDS)
KEYSET = (Event.started_at, Event.id)   # the order of every events list
# Literal SQL so PostgreSQL can prove the partial index ix_events_aborts applies even with a
# generic (prepared) plan.
ABORTS_CLAUSE = text("events.outcome IN ('aborted', 'killed', 'timed_out')")
assert set(ABORT_OUTCOMES) == {"aborted", "killed", "timed_out"}


def summary(row) -> dict:
    data = dict(row._mapping)
    data.pop("id", None)
    data["started_at"], data["received_at"] = iso(data["started_at"]), iso(data["received_at"])
    data["host_started_at"] = iso(data["host_started_at"])
    data["known_op"] = data["op"] in KNOWN_OPS
    return data


def verdict_of(mode: str, verdict: str) -> str | None:
    """The verdict filters and the policies page count (deny/warn/dryrun: a deny verdict in
    enforce/warn/dryrun mode; mutate; error); None for allow."""
    if verdict == "deny":
        return {"enforce": "deny", "warn": "warn", "dryrun": "dryrun"}.get(mode)
    return verdict if verdict in ("mutate", "error") else None


# verdict_of as conditions on a decision row (the `verdict` filter).
D = PolicyDecision
VERDICTS = {
    "deny": and_(D.verdict == "deny", D.mode == "enforce"),
    "warn": and_(D.verdict == "deny", D.mode == "warn"),
    "dryrun": and_(D.verdict == "deny", D.mode == "dryrun"),
    "mutate": D.verdict == "mutate",
    "error": D.verdict == "error",
}


def names_match(column, values: list[str]) -> ColumnElement:
    """``column`` equals one of ``values``, or matches one of them that is a glob (* ?,
    case-insensitive on both databases: ILIKE, or lower() LIKE lower() on SQLite)."""
    exact = [v for v in values if not is_glob(v)]
    parts = [column.in_(exact)] if exact else []
    parts += [column.ilike(glob_pattern(v), escape=LIKE_ESCAPE) for v in values if is_glob(v)]
    # no "OR false" beside a lone IN: SQLite's planner then no longer sees the IN as
    # indexable, and a guest's 10,000 calls were read by scanning a month of the started_at
    # index (0.5 s at 1M events)
    return or_(*parts) if parts else false()


def host_ids(session: Session, names: list[str]) -> list[int]:
    """Ids of the hosts ``names`` (and globs) match. Resolving names first keeps
    `host_id = ANY(ids)` on the (host_id, started_at) index (and the histogram rollup)."""
    return list(session.scalars(select(Host.id).where(names_match(Host.name, names))))


def decided_by(f: EventFilters) -> Select:
    """Ids of the events a decision matching ``rule`` and ``verdict`` was made for. A
    decision's ``at`` is its event's started_at, so the time bounds let the
    (rule_id, at) index serve the subquery."""
    sub = select(D.event_id)
    if f.rule:
        sub = sub.where(D.rule_id.in_(f.rule))
    if f.verdict:
        sub = sub.where(or_(*(VERDICTS[v] for v in f.verdict)))
    if f.since:
        sub = sub.where(D.at >= f.since)
    if f.until:
        sub = sub.where(D.at < f.until)
    return sub


def base_query(session: Session, f: EventFilters) -> Select:
    """SELECT summary columns with every filter of ``f`` applied (no order, no paging)."""
    stmt = select(*SUMMARY_COLUMNS).join(Host, Host.id == Event.host_id)
    if f.host:
        stmt = stmt.where(Event.host_id.in_(host_ids(session, f.host)))
    if f.guest:
        uuids = [g.lower() for g in f.guest if UUID_RE.match(g)]
        names = [g for g in f.guest if not UUID_RE.match(g)]
        parts = [Event.domain_uuid.in_(uuids)] if uuids else []
        if names:
            parts.append(names_match(Event.object, names))
        stmt = stmt.where(or_(*parts))
    if f.rule or f.verdict:
        stmt = stmt.where(Event.id.in_(decided_by(f)))
    for column, values in ((Event.driver, f.driver), (Event.op, f.op), (Event.outcome, f.outcome)):
        if values:
            stmt = stmt.where(column.in_(values))
    if f.since:
        stmt = stmt.where(Event.started_at >= f.since)
    if f.until:
        stmt = stmt.where(Event.started_at < f.until)
    if f.q:
        pattern = contains_pattern(f.q)
        stmt = stmt.where(Event.reason.ilike(pattern, escape=LIKE_ESCAPE)
                          | Event.stderr.ilike(pattern, escape=LIKE_ESCAPE))
    return stmt


def _ordered(stmt: Select, order: str) -> Select:
    if order == "asc":
        return stmt.order_by(Event.started_at.asc(), Event.id.asc())
    return stmt.order_by(Event.started_at.desc(), Event.id.desc())


def list_events(session: Session, f: EventFilters, p: PageParams) -> dict:
    """One keyset page of the matching events (newest first unless ``p.order`` is asc)."""
    return keyset_page(session, base_query(session, f), KEYSET, p, summary, int)


def list_aborts(session: Session, f: EventFilters, p: PageParams) -> dict:
    """Aborted, killed and timed-out calls, newest first (served by ix_events_aborts)."""
    return keyset_page(session, base_query(session, f).where(ABORTS_CLAUSE), KEYSET, p, summary,
                       int)


def iter_events(db: Database, f: EventFilters, order: str = "desc", batch: int = 2000,
                aborts: bool = False) -> Iterator[dict]:
    """Every matching event (``aborts``: only aborted, killed, timed out), streamed from a
    server-side cursor, with its decisions' rule ids and verdicts (exports, CLI)."""
    with db.session() as session:
        stmt = base_query(session, f)
        stmt = _ordered(stmt.where(ABORTS_CLAUSE) if aborts else stmt, order)
        # Core on the session's connection: no ORM row processing; server-side cursor.
        rows = session.connection().execution_options(yield_per=batch).execute(stmt)
        for part in rows.partitions():
            decided = _decision_fields(session, [row.id for row in part])
            for row in part:
                yield summary(row) | decided.get(row.id, NOT_DECIDED)


NOT_DECIDED = dict.fromkeys(DECISION_FIELDS, "")


def _decision_fields(session: Session, pks: list[int]) -> dict[int, dict]:
    """Event pk -> {"rule_id": "r1;r2", "verdict": "deny;warn"} (decisions other than allow)."""
    found: dict[int, tuple[list, list]] = {}
    rows = session.execute(select(D.event_id, D.rule_id, D.mode, D.verdict)
                           .where(D.event_id.in_(pks), D.verdict != "allow").order_by(D.id))
    for pk, rule_id, mode, verdict in rows:
        rules, verdicts = found.setdefault(pk, ([], []))
        rules.append(rule_id)
        verdicts.append(verdict_of(mode, verdict) or verdict)
    return {pk: {"rule_id": ";".join(r), "verdict": ";".join(v)} for pk, (r, v) in found.items()}


def _blob(session: Session, sha: str | None) -> str | None:
    if sha is None:
        return None
    data = session.scalar(select(XmlBlob.data).where(XmlBlob.sha256 == sha))
    return None if data is None else zlib.decompress(data).decode("utf-8", "surrogatepass")


def xml_diff(before: str | None, after: str | None) -> str | None:
    if before is None or after is None:
        return None
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                 "input.xml", "output.xml")
    return "".join(lines)


def get_event(session: Session, event_id: str) -> dict | None:
    """One event in full: XML bodies, filter output, their diff, decisions, chain problems."""
    if not UUID_RE.match(event_id):
        return None
    row = session.execute(select(*SUMMARY_COLUMNS, Event.prev_hash, Event.hash, Event.policy,
                                 Event.scripts, Event.warnings, Event.shim_hostname,
                                 Event.shim_pid).join(Host, Host.id == Event.host_id)
                          .where(Event.event_id == event_id.lower())).first()
    if row is None:
        return None
    data = summary(row)
    data["shim"] = {"version": data["shim_version"], "hostname": data.pop("shim_hostname"),
                    "pid": data.pop("shim_pid")}
    data["scripts"], data["warnings"] = data["scripts"] or [], data["warnings"] or []
    data["xml"] = _blob(session, row.xml_sha256)
    data["output_xml"] = _blob(session, row.output_xml_sha256)
    data["xml_diff"] = xml_diff(data["xml"], data["output_xml"])
    data["decisions"] = _decisions(session, row.id)
    data["chain_problems"] = problems_for(session, [data["event_id"]])
    data["guest_calls"] = guest_neighbours(session, row)
    if data["op"] == "migrate":   # the hook runs on the destination; the source ran the last call
        prev = data["guest_calls"]["previous"]
        data["migration"] = {"source": prev["host"] if prev and prev["host"] != data["host"]
                             else None, "destination": data["host"]}
    return data


NEIGHBOUR_COLUMNS = (Event.event_id, Host.name.label("host"), Event.op, Event.subop,
                     Event.outcome, Event.started_at)


def guest_neighbours(session: Session, row) -> dict:
    """The previous and next call of the same guest (by domain UUID, else by name), on any
    host, in (started_at, id) order: ix_events_domain_started / ix_events_object_started."""
    same = (Event.domain_uuid == row.domain_uuid if row.domain_uuid
            else Event.object == row.object)
    here, key = tuple_(row.started_at, row.id), tuple_(Event.started_at, Event.id)
    found = {}
    for name, where, order in (("previous", key < here, (Event.started_at.desc(), Event.id.desc())),
                               ("next", key > here, (Event.started_at, Event.id))):
        hit = session.execute(select(*NEIGHBOUR_COLUMNS).join(Host, Host.id == Event.host_id)
                              .where(same, where).order_by(*order).limit(1)).first()
        found[name] = None if hit is None else dict(hit._mapping, started_at=iso(hit.started_at))
    return found


def _decisions(session: Session, pk: int) -> list[dict]:
    d = aliased(PolicyDecision)
    rows = session.execute(select(d.rule_id, d.mode, d.verdict, d.message, d.error,
                                  d.bundle_version).where(d.event_id == pk).order_by(d.id))
    return [dict(r._mapping) for r in rows]


def problems_for(session: Session, event_ids: list[str]) -> list[dict]:
    rows = session.execute(select(ChainProblem.event_id, ChainProblem.seq, ChainProblem.problem,
                                  ChainProblem.detected_at)
                           .where(ChainProblem.event_id.in_(event_ids)).order_by(ChainProblem.id))
    return [dict(r._mapping, detected_at=iso(r.detected_at)) for r in rows]

"""Query parameters and response models of the audit query API (the OpenAPI of /api/v1)."""
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.timerange import parse_bound
from app.timeutil import to_naive_utc, utcnow

Value = Annotated[str, Field(min_length=1, max_length=256)]
Values = Annotated[list[Value], Field(max_length=50)]
# A time query parameter, naive UTC; an offset that leaves year 1..9999 is a 422.
UtcTime = Annotated[datetime, AfterValidator(to_naive_utc)]
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def time_bound(value):
    """since/until: ISO, ``now`` or relative (``-24h``), resolved by app.timerange."""
    return parse_bound(value, utcnow()) if isinstance(value, str) else value


def _plain_text(value):
    """Filter values are compared as text; control characters can only be mistakes (or worse)."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str):
            if _CONTROL.search(item):
                raise ValueError("control characters are not allowed")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("invalid unicode") from None
    return value


# The policies page's hit kinds (app.policy.service.HIT_KINDS): deny/warn/dryrun are a deny
# verdict in enforce/warn/dryrun mode.
Verdict = Literal["deny", "warn", "dryrun", "mutate", "error"]
Outcome = Literal["ok", "aborted", "killed", "failed_ignored", "timed_out"]


class EventFilters(BaseModel):
    """Filters shared by the events list, its exports, the aborts page and the CLI."""

    model_config = ConfigDict(extra="forbid")
    host: Values = Field([], description="host name(s); `*` and `?` make a glob "
                                         "(`dom0-rack7-*`, case-insensitive)")
    guest: Values = Field([], description="guest name(s) or domain UUID(s); `*` and `?` in a "
                                          "name make a glob (case-insensitive)")
    driver: Values = Field([], description="libvirt driver(s): libxl, qemu, lxc, network, ...")
    op: Values = Field([], description="hook operation(s): prepare, start, started, ...")
    outcome: list[Outcome] = Field([], max_length=5, description="repeat for any of several")
    rule: Values = Field([], description="policy rule id(s) that decided the call")
    verdict: list[Verdict] = Field([], max_length=5, description=(
        "what a rule did: deny (enforced refusal), warn, dryrun (a deny in that mode), "
        "mutate, error; with `rule`, the same decision must match both"))
    since: datetime | None = Field(None, description="started_at >= since: ISO time (UTC if "
                                   "no zone), `now`, or relative to now: -15m, -24h, -7d")
    until: datetime | None = Field(None, description="started_at < until (same forms as since)")
    q: Annotated[str, Field(max_length=256)] | None = Field(
        None, description="text contained in reason or stderr (case-insensitive)")

    _text = field_validator("host", "guest", "driver", "op", "rule", "q")(_plain_text)
    _bounds = field_validator("since", "until", mode="before")(time_bound)
    _times = field_validator("since", "until")(to_naive_utc)


class HostRange(BaseModel):
    """The time range of a host page (default: the last 24 hours)."""

    model_config = ConfigDict(extra="forbid")
    since: datetime | None = Field(None, description="from: ISO time (UTC if no zone), now, or "
                                   "relative: -24h, -7d; default until - 24 h")
    until: datetime | None = Field(None, description="to (same forms); default now")
    _bounds = field_validator("since", "until", mode="before")(time_bound)
    _times = field_validator("since", "until")(to_naive_utc)


class RangeQuery(BaseModel):
    """A time range alone (rule history, overview): the bounds as EventFilters reads them."""

    model_config = ConfigDict(extra="forbid")
    since: datetime | None = Field(None, description="ISO time, now, or relative: -24h, -7d")
    until: datetime | None = Field(None, description="ISO time, now, or relative; default now")
    _bounds = field_validator("since", "until", mode="before")(time_bound)
    _times = field_validator("since", "until")(to_naive_utc)


class PageParams(BaseModel):
    cursor: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="next_cursor of the previous page")
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    order: Literal["desc", "asc"] = Field("desc", description="by (started_at, id)")


class EventQuery(EventFilters, PageParams):
    format: Literal["json", "csv", "ndjson"] = Field(
        "json", description="csv / ndjson stream every matching event (no paging)")


class AbortQuery(EventFilters, PageParams):
    outcome: list[Literal["aborted", "killed", "timed_out"]] = Field(
        [], max_length=3, description="any of several (repeat); none: all three")
    format: Literal["json", "csv", "ndjson"] = Field(
        "json", description="csv / ndjson stream every matching abort (no paging)")


class EventSummary(BaseModel):
    event_id: str
    host: str
    seq: int
    kind: str
    driver: str
    object: str
    op: str
    known_op: bool = Field(description="op is one libvirt calls hooks with; false: stored as "
                                       "sent, counted as \"other\" in /metrics")
    subop: str
    extra: str
    domain_uuid: str | None
    started_at: str
    duration_ms: float | None
    exit_code: int | None
    outcome: str
    reason: str | None
    stderr: str | None
    xml_sha256: str | None
    output_xml_sha256: str | None
    xml_truncated: bool
    redactions: int
    policy_bundle_version: str | None
    dropped: int | None
    shim_version: str | None
    chain_ok: bool
    received_at: str
    clock_skew: bool = Field(description="the host's started_at was too far from received_at: "
                                         "started_at is the receive time, host_started_at the "
                                         "host's claim")
    host_started_at: str | None = Field(description="the host's started_at, when clock_skew")


class EventPage(BaseModel):
    items: list[EventSummary]
    next_cursor: str | None


class DecisionOut(BaseModel):
    rule_id: str
    mode: str
    verdict: str
    message: str | None
    error: str | None
    bundle_version: str | None


class ProblemOut(BaseModel):
    event_id: str
    seq: int
    problem: str
    detected_at: str


class NeighbourCall(BaseModel):
    event_id: str
    host: str
    op: str
    subop: str
    outcome: str
    started_at: str


class GuestCalls(BaseModel):
    previous: NeighbourCall | None
    next: NeighbourCall | None


class MigrationHosts(BaseModel):
    source: str | None = Field(description="null: unknown (no earlier call on another host)")
    destination: str


class EventDetail(EventSummary):
    prev_hash: str
    hash: str
    policy: dict[str, Any] | None
    decisions: list[DecisionOut]
    scripts: list[dict[str, Any]]
    warnings: list[str]
    shim: dict[str, Any]
    xml: str | None
    output_xml: str | None
    xml_diff: str | None = Field(description="unified diff input XML -> filter output")
    chain_problems: list[ProblemOut]
    guest_calls: GuestCalls = Field(description="the previous and next call of the same guest "
                                                "(by domain UUID, else by name), on any host")
    migration: MigrationHosts | None = Field(None, description="migrate calls: source (the host "
                                             "of the guest's previous call) and destination")
    matched: dict[str, Any] | None = Field(None, description=(
        "what the event page highlights (app/policy/matched.py): `rules`, each rule that denied "
        "or rewrote with `elements`, the indexes in document order (0: the root) of the XML "
        "elements that made it match, and `source`: `decided` (re-evaluated with the bundle "
        "that decided) or `current` (that bundle is no longer served); `retired`: rules no "
        "longer served, which cannot be re-evaluated"))


class GuestOut(BaseModel):
    domain_uuid: str
    name: str
    driver: str
    current_host: str | None
    state: str
    first_seen_at: str
    last_event_at: str
    last_event_id: str
    last_op: str
    last_outcome: str
    conflict_host: str | None = Field(
        None, description="the last host that claimed this guest (start, restore, reconnect) "
                          "while it was active on current_host, without a migration; the "
                          "guest was not moved")
    conflict_event_id: str | None = Field(None, description="the event of that claim")
    conflict_at: str | None = Field(None, description="when (the event's started_at)")
    migrated_at: str | None = Field(None, description="its latest incoming migration that "
                                                      "went on; null: never migrated")


class GuestQuery(PageParams):
    model_config = ConfigDict(extra="forbid")
    q: Annotated[str, Field(max_length=256)] | None = Field(None, description="name contains")
    host: Value | None = Field(None, description="current host; `*` and `?` make a glob")
    state: Value | None = None
    migrated: bool | None = Field(None, description="true: only guests that migrated (an "
                                  "incoming migration went on); false: only those that never did")
    _text = field_validator("q", "host", "state")(_plain_text)


class GuestPage(BaseModel):
    items: list[GuestOut]
    next_cursor: str | None


class BootOut(BaseModel):
    index: int
    host: str
    via: str = Field(description="start | migration | restore | reconnect | unknown")
    started_at: str
    ended_at: str | None
    status: str = Field(description="running | ended | aborted | killed")
    end_reason: str | None = Field(description="release's extra, e.g. shutdown, migrated")
    migrated_from: int | None = Field(description="index of the source boot")
    migrated_to: int | None = Field(description="index of the destination boot")
    events: list[EventSummary]


class Timeline(BaseModel):
    guest: GuestOut
    boots: list[BootOut]
    truncated: bool = Field(description="the guest has more events than the server reads")


class SpoolResetOut(BaseModel):
    at: str = Field(description="when the server received the host's spool_reset event")
    event_id: str | None
    head_seq: int | None = Field(description="last seq read from the damaged spool (null: none)")
    head_hash: str = Field(description="its hash, or \"unknown\"")


class BundleTrustOut(BaseModel):
    refused: str | None = Field(description="why the last bundle offered was refused (the host "
                                            "keeps its last good bundle); null: none refused")
    signer: str | None = Field(description="the key that signed the installed bundle")
    serial: int | None
    warning: str | None = Field(description="e.g. unsigned bundles accepted (no signers pinned)")


class LibvirtOut(BaseModel):
    version: str | None
    daemon: str | None = Field(description="libvirtd (monolithic) or split (modular daemons)")


class BacklogOut(BaseModel):
    pending: int | None = Field(description="unsent events the server knows of: the reported "
                                            "spool depth less what arrived since")
    oldest_unsent_age_s: float | None
    as_of: str = Field(description="the heartbeat these numbers come from")
    at_least: bool = Field(description="the host is stale: it may hold more (lower bounds)")


class HostHealth(BaseModel):
    name: str
    health: str = Field(description="ok | never_seen | stale | lagging | gaps | spool_reset | "
                                    "chain_broken | revoked")
    stale_since: str | None = Field(None, description="last seen, when the host is stale")
    backlog: BacklogOut | None = Field(None, description="null: no heartbeat yet")
    revoked: bool
    created_at: str
    shim_version: str | None
    shim_behind: bool = Field(description="not revoked, and on an older hookshim than the "
                                          "server ships (or never reported one)")
    last_seen_at: str | None
    seen_ago_s: float | None
    last_seq: int | None
    chain_head_seq: int | None
    events_count: int
    open_gaps: list[tuple[int, int]]
    missing_events: int
    chain_problems: int
    chain_status: Literal["ok", "broken"]
    heartbeat_at: str | None
    spool_depth: int | None
    oldest_unsent_age_s: float | None
    parked: int | None
    last_error: str | None
    spool_reset: SpoolResetOut | None = Field(
        None, description="the host's last spool reset (its damaged spool was replaced)")
    bundle: BundleTrustOut | None = Field(
        None, description="the policy bundle report of the host's last heartbeat")
    libvirt: LibvirtOut | None = Field(
        None, description="the libvirt the host's shim was installed for (last heartbeat)")


class OutageOut(BaseModel):
    start: str = Field(description="the last heartbeat before the silence")
    end: str | None = Field(description="the first heartbeat after it (null: still silent)")
    duration_s: float
    ongoing: bool


class HostSlot(BaseModel):
    start: str
    state: Literal["ok", "lagging", "refused", "down", "none"]
    spool_depth: int | None = Field(description="the largest backlog reported in the slot")
    oldest_unsent_age_s: float | None = Field(description="the largest lag reported in it")


class DriverSeen(BaseModel):
    driver: str
    calls: int
    last_at: str


class HostAbort(BaseModel):
    event_id: str
    started_at: str
    object: str
    driver: str
    op: str
    subop: str
    outcome: str
    reason: str | None


class HostDetail(HostHealth):
    problems: list[ProblemOut]
    range: dict[str, str] = Field(description="since / until of the slots and outages")
    outage_after_s: float = Field(description="a silence longer than this is an outage")
    outages: list[OutageOut]
    series: list[HostSlot]
    drivers: list[DriverSeen] = Field(description="drivers whose hooks ran in the range")
    bundle_version: str | None = Field(description="policy bundle of the host's newest event")
    recent_aborts: list[HostAbort]

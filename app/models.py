"""The store: every table of the server, SQLAlchemy 2 models (SQLite and PostgreSQL), changed
only through Alembic (migrations/env.py reads ``Base.metadata`` from this module alone).

Times are naive UTC ``DateTime`` columns (microseconds), identical on both engines.
Every index says which query it serves.
"""
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names so Alembic migrations name things the same on every engine.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, PostgreSQL wants BIGINT for big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")

ABORT_OUTCOMES = ("aborted", "killed", "timed_out")
_ABORTS_SQL = "outcome IN ('aborted', 'killed', 'timed_out')"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Host(Base):
    """A virtualization host; its token is bound to its name. Heartbeat fields come last."""

    __tablename__ = "hosts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # sha256 hex of the bearer token; unique: ingest authenticates by looking it up.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    shim_version: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)          # highest seq received
    chain_head_seq: Mapped[int | None] = mapped_column(BigInteger)  # end of gapless prefix
    chain_head_hash: Mapped[str | None] = mapped_column(String(64))
    chain_problems: Mapped[int] = mapped_column(Integer, default=0)
    events_count: Mapped[int] = mapped_column(BigInteger, default=0)
    hb_at: Mapped[datetime | None] = mapped_column(DateTime)
    hb_spool_depth: Mapped[int | None] = mapped_column(BigInteger)
    hb_oldest_unsent_age_s: Mapped[float | None] = mapped_column(Float)
    hb_parked: Mapped[int | None] = mapped_column(BigInteger)
    hb_last_seq: Mapped[int | None] = mapped_column(BigInteger)
    hb_last_error: Mapped[str | None] = mapped_column(Text)
    # The host's last spool reset (a "spool_reset" event): when, which event, what head the
    # damaged spool declared (hash NULL when it was unreadable). The hosts page shows it.
    spool_reset_at: Mapped[datetime | None] = mapped_column(DateTime)
    spool_reset_event_id: Mapped[str | None] = mapped_column(String(36))
    spool_reset_head_seq: Mapped[int | None] = mapped_column(BigInteger)
    spool_reset_head_hash: Mapped[str | None] = mapped_column(String(64))
    # What the last heartbeat said of the policy bundle (hookshim/forward_bundle.py
    # bundle_report): the key that signed the installed bundle, its serial, and why the last
    # bundle offered was refused (None: none refused since the last good one).
    hb_bundle_signer: Mapped[str | None] = mapped_column(Text)
    hb_bundle_serial: Mapped[int | None] = mapped_column(BigInteger)
    hb_bundle_refused: Mapped[str | None] = mapped_column(Text)
    hb_bundle_warning: Mapped[str | None] = mapped_column(Text)
    # The libvirt the shim was installed for (its config: libvirt_version, libvirt_daemon).
    hb_libvirt_version: Mapped[str | None] = mapped_column(String(64))
    hb_libvirt_daemon: Mapped[str | None] = mapped_column(String(64))


class XmlBlob(Base):
    """A domain XML body, stored once per sha256 (prepare/start/started carry the same XML)."""

    __tablename__ = "xml_blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)          # uncompressed UTF-8 bytes
    data: Mapped[bytes] = mapped_column(LargeBinary)    # zlib-compressed UTF-8
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Event(Base):
    """One hook call, every field of the event contract (hookshim/event.py)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Idempotent ingest: a replayed event_id is found here and not stored twice.
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    v: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    driver: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(Text)
    op: Mapped[str] = mapped_column(String(64))
    subop: Mapped[str] = mapped_column(Text)
    extra: Mapped[str] = mapped_column(Text)
    domain_uuid: Mapped[str | None] = mapped_column(String(36))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    stderr: Mapped[str | None] = mapped_column(Text)
    # sha256 of the XML body as received (the blob's key). The digest the event *claims* is in
    # `canonical`; when the two differ the event carries a chain problem.
    xml_blob: Mapped[str | None] = mapped_column(ForeignKey("xml_blobs.sha256"))
    xml_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    output_xml_blob: Mapped[str | None] = mapped_column(ForeignKey("xml_blobs.sha256"))
    redactions: Mapped[int] = mapped_column(Integer, default=0)
    policy_bundle_version: Mapped[str | None] = mapped_column(String(128))
    policy: Mapped[dict | None] = mapped_column(JSON)
    scripts: Mapped[list | None] = mapped_column(JSON)
    warnings: Mapped[list | None] = mapped_column(JSON)
    dropped: Mapped[int | None] = mapped_column(BigInteger)
    shim_version: Mapped[str | None] = mapped_column(String(64))
    shim_hostname: Mapped[str | None] = mapped_column(Text)
    shim_pid: Mapped[int | None] = mapped_column(Integer)
    # hookshim.event.canonical_bytes of the event as received: `hookaudit verify` re-hashes
    # this without the XML bodies, and the XML blobs are checked against their digests.
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    chain_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    # started_at was too far from received_at (app/services/clock_skew.py): started_at then
    # holds received_at, host_started_at the host's claim (as in `canonical`).
    clock_skew: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    host_started_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        # GET /events (no filter): newest first, keyset on (started_at, id).
        Index("ix_events_started_at_id", "started_at", "id"),
        # GET /events?host=...: one host's events in time order.
        Index("ix_events_host_started", "host_id", "started_at", "id"),
        # Timeline of a guest and GET /events?guest=<uuid>: by domain UUID across hosts;
        # host_id and outcome too, so the guest page's picture of a busy guest (calls per
        # host, bucket and outcome) is counted from the index alone (no row reads).
        Index("ix_events_domain_started", "domain_uuid", "started_at", "id", "host_id",
              "outcome"),
        # GET /events?guest=<name>: by guest (object) name.
        Index("ix_events_object_started", "object", "started_at", "id"),
        # GET /aborts: partial index holding only aborted/killed/timed_out, already in order.
        Index("ix_events_aborts", "started_at", "id",
              postgresql_where=text(_ABORTS_SQL), sqlite_where=text(_ABORTS_SQL)),
        # One host's aborts (GET /aborts?host=..., /events?host=...&outcome=aborted): a range
        # scan bounded by the LIMIT, instead of ANDing the host index with ix_events_aborts.
        Index("ix_events_host_aborts", "host_id", "started_at", "id",
              postgresql_where=text(_ABORTS_SQL), sqlite_where=text(_ABORTS_SQL)),
        # Chain checks at ingest (predecessor/successor by seq), gap closing, `verify`.
        Index("ix_events_host_seq", "host_id", "seq"),
    )


class _SlotCounts:
    """The columns of both rollup levels: calls per slot, host, driver, op and outcome."""

    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), primary_key=True)
    driver: Mapped[str] = mapped_column(String(64), primary_key=True)
    op: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(32), primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)


class HistogramSlot(_SlotCounts, Base):
    """How many calls started in one half hour (a slot), per host, driver, op and outcome:
    the histograms' rollup (app/services/histogram_rollup.py), kept in the transaction that
    inserts or deletes the events it counts (ingest, retention), so it always equals counting them.

    ``slot`` is whole half hours since 1970 (floored) of ``events.started_at``, the column the
    histograms bucket on (a clock-skewed event counts at its receive time, as it is listed).
    Rows of one host are only written under that host's lock: batches of different hosts
    never touch the same row."""

    __tablename__ = "histogram_slots"
    # The primary key (slot first) serves the histograms: the whole slots of a range, with
    # host/driver/op/outcome filters applied to the few rows of each slot.
    __table_args__ = (
        # Aborts histograms (the aborts page, scope=aborts): only the rare aborted, killed and
        # timed-out rows, every column (an index-only scan on PostgreSQL), instead of reading
        # every outcome's rows of the range (~8× as many at 1 % aborts) and dropping most.
        Index("ix_histogram_slots_aborts", "slot", "host_id", "driver", "op", "outcome",
              "calls", postgresql_where=text(_ABORTS_SQL), sqlite_where=text(_ABORTS_SQL)),
    )


class HistogramSlot3h(_SlotCounts, Base):
    """The same counts per three hours (``slot``: whole 3-hour periods since 1970, floored):
    the rollup's coarse level, which long ranges read (a 7-day histogram's buckets are 3 h,
    a 30-day one's 12 h). Kept in the same transactions as ``histogram_slots``; each row is
    the sum of the six half-hour rows of its period (app/services/histogram_rollup.py).
    No aborts index: aborts are sparse, a 3-hour row holds about one, so the aborts
    histograms read the half-hour level's partial index instead."""

    __tablename__ = "histogram_slots_3h"


class PolicyDecision(Base):
    """One rule's verdict on one event (policy.decisions of the contract, as rows)."""

    __tablename__ = "policy_decisions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Event detail page: the decisions of one event.
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[str] = mapped_column(String(255))
    mode: Mapped[str] = mapped_column(String(32))
    verdict: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    bundle_version: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime)

    # Policy pages: a rule's recent hits ("what did rule X deny this week").
    __table_args__ = (Index("ix_policy_decisions_rule_at", "rule_id", "at"),)


class Guest(Base):
    """A domain by UUID, maintained at ingest: latest name, where it is, what it is doing."""

    __tablename__ = "guests"
    domain_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    driver: Mapped[str] = mapped_column(String(64))
    current_host: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32))
    first_seen_at: Mapped[datetime] = mapped_column(DateTime)
    # GET /guests: most recently active first.
    last_event_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_event_id: Mapped[str] = mapped_column(String(36))
    last_op: Mapped[str] = mapped_column(String(64))
    last_outcome: Mapped[str] = mapped_column(String(32))
    # The last host conflict: a host other than current_host claimed the guest while it was
    # active there, without a migration (app/services/guest_state.py). Shown, never obeyed.
    conflict_host: Mapped[str | None] = mapped_column(String(255))
    conflict_event_id: Mapped[str | None] = mapped_column(String(36))
    conflict_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The guest's latest incoming migration that went on (a migrate call answered ok), set
    # at ingest; None: it never migrated (as far as the store knows).
    migrated_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        # GET /guests?migrated=true: only the guests that migrated, most recently active first.
        Index("ix_guests_migrated", "last_event_at", "domain_uuid",
              postgresql_where=text("migrated_at IS NOT NULL"),
              sqlite_where=text("migrated_at IS NOT NULL")),
    )


class SeqGap(Base):
    """Missing seq range [from_seq, to_seq] of one host; closed when late events fill it."""

    __tablename__ = "seq_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"))
    from_seq: Mapped[int] = mapped_column(BigInteger)
    to_seq: Mapped[int] = mapped_column(BigInteger)
    detected_at: Mapped[datetime] = mapped_column(DateTime)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The spool_reset event that declared these seqs lost (closed_at is then its arrival).
    declared_by: Mapped[str | None] = mapped_column(String(36))

    # Ingest looks up a host's open gaps; the hosts page counts them.
    __table_args__ = (Index("ix_seq_gaps_host_open", "host_id", "closed_at"),)


class ChainProblem(Base):
    """A hash-chain mismatch found at ingest or by `verify`; the event is stored anyway."""

    __tablename__ = "chain_problems"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Hosts page / verify: problems of one host in seq order.
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(BigInteger)
    problem: Mapped[str] = mapped_column(Text)
    detected_at: Mapped[datetime] = mapped_column(DateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))            # viewer | admin
    password_hash: Mapped[str | None] = mapped_column(Text)  # argon2id
    created_at: Mapped[datetime] = mapped_column(DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)


class WebSession(Base):
    """A dashboard login (app/services/web_sessions.py). The cookie carries a random id; only
    its sha256 is stored. Logout deletes the row; disabling a user or changing a password
    deletes all of the user's rows, so a captured cookie stops working at once."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # Every dashboard request looks its session up by hash.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # End all sessions of a user (disable, password change).
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Pruning of expired sessions at login.
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class LoginThrottle(Base):
    """Failed dashboard logins per account and per client address, in the database so every
    app process sees the same counts (app/services/login_throttle.py)."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of kind:value
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[float] = mapped_column(Float, index=True)  # epoch s; index: pruning


class ApiToken(Base):
    """A user's bearer token for the API (stored as sha256 hex)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Every API request looks its token up by hash.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


# Retention (app/services/retention.py) ------------------------------------------------------------
# Blob collection asks "is this digest still referenced?" after each pruned batch.
Index("ix_events_xml_blob", Event.xml_blob)
Index(
    "ix_events_output_xml_blob",
    Event.output_xml_blob,  # partial: most events have none
    postgresql_where=Event.output_xml_blob.isnot(None),
    sqlite_where=Event.output_xml_blob.isnot(None),
)


class ChainCheckpoint(Base):
    """Where a host's stored chain now starts: the last pruned event's seq and hash."""

    __tablename__ = "chain_checkpoints"
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    mac: Mapped[str] = mapped_column(String(64))
    mac_kind: Mapped[str] = mapped_column(String(16))  # hmac-sha256 | sha256
    pruned_events: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class RetentionRun(Base):
    """The audit record of one prune: who, when, which cutoffs, what was deleted per host."""

    __tablename__ = "retention_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(255))
    cutoff: Mapped[datetime] = mapped_column(DateTime)
    abort_cutoff: Mapped[datetime] = mapped_column(DateTime)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    events_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    xml_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    chain_problems: Mapped[int] = mapped_column(Integer, default=0)
    hosts: Mapped[dict | None] = mapped_column(JSON)  # host -> {from_seq, to_seq, deleted, ...}
    error: Mapped[str | None] = mapped_column(Text)


# Alerts (app/alerts/) ---------------------------------------------------------------------------
class AlertDelivery(Base):
    """One alert to one webhook target: created when the alert is due, updated per attempt."""

    __tablename__ = "alert_deliveries"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    guest: Mapped[str] = mapped_column(String(255))
    count: Mapped[int] = mapped_column(Integer)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(512))  # Target.display: never the secret path
    format: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # pending|retrying|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)

    # GET /api/v1/alerts/deliveries: newest first, keyset on id.
    __table_args__ = (Index("ix_alert_deliveries_created", "created_at", "id"),)


class AlertThrottle(Base):
    """Which alert group was last sent, until when: lets N app processes send a burst once."""

    __tablename__ = "alert_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of kind:host:guest
    until: Mapped[float] = mapped_column(Float)  # epoch seconds


class HostChainHead(Base):
    """A chain head (seq, hash) the host reported in a heartbeat: the newest event the server
    acknowledged to it. ``verify`` checks the store still holds it (app/services/chain_heads.py).
    Bounded per host: a new row only when the head moved, the oldest dropped past a cap."""

    __tablename__ = "host_chain_heads"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[datetime] = mapped_column(DateTime)

    # Heartbeat (latest head of a host, cap) and verify (a host's heads): newest first by id.
    __table_args__ = (Index("ix_host_chain_heads_host_id", "host_id", "id"),)


class HostHeartbeat(Base):
    """One heartbeat of a host as history (health over time, outages, backlog and lag charts).

    Kept as sent for 48 hours, then merged by the retention run into one row per host and
    10 minutes (app/services/heartbeats.py): ``at``..``until`` is the first and last beat the
    row stands for, ``beats`` how many, and the backlog figures are the worst of them. Rows go
    with the events' retention."""

    __tablename__ = "host_heartbeats"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime)
    until: Mapped[datetime] = mapped_column(DateTime)
    beats: Mapped[int] = mapped_column(Integer, default=1)
    bucketed: Mapped[bool] = mapped_column(Boolean, default=False)  # merged by retention
    spool_depth: Mapped[int | None] = mapped_column(BigInteger)
    oldest_unsent_age_s: Mapped[float | None] = mapped_column(Float)
    parked: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    bundle_refused: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # The host page (one host's history in a time range) and downsampling (one host's
        # raw rows past 48 h, in time order).
        Index("ix_host_heartbeats_host_at", "host_id", "at"),
        # Retention: every host's rows older than the cutoff.
        Index("ix_host_heartbeats_at", "at"),
    )


# Facts (issue 17, app/facts/ and app/services/facts_pass.py) ------------------------------------
class FactSet(Base):
    """The facts of one distinct XML body, extracted once (prepare/start/started share one)."""

    __tablename__ = "fact_sets"
    # Pruned with its XML body: retention deletes the blob, the cascade deletes this.
    sha256: Mapped[str] = mapped_column(
        ForeignKey("xml_blobs.sha256", ondelete="CASCADE"), primary_key=True)
    facts: Mapped[list | None] = mapped_column(JSON)   # [[kind, key, {attrs}], ...]; None: error
    error: Mapped[str | None] = mapped_column(Text)    # why the XML gave no facts
    extracted_at: Mapped[datetime] = mapped_column(DateTime)


class FactsPending(Base):
    """A guest whose facts must be recomputed: ingest adds one row per guest per batch in its
    own transaction, the facts pass deletes the rows it handled (crash-safe: a restart finds
    them again; idempotent: the pass recomputes the guest from its events)."""

    __tablename__ = "facts_pending"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    domain_uuid: Mapped[str] = mapped_column(String(36))
    queued_at: Mapped[datetime] = mapped_column(DateTime)
    # The earliest started_at of the events that queued it: the pass recomputes the guest
    # from the last quiet point at or before it. NULL: from all its events (retention, backfill).
    since: Mapped[datetime | None] = mapped_column(DateTime)


class FactsCursor(Base):
    """Where a guest's facts may be recomputed from (app/services/facts_pass.py): its quiet
    points, the starts of boots before which none of its boots was open on any host, each with
    the XML digest of the last definition before it (for the drift of the next boot)."""

    __tablename__ = "facts_cursors"
    domain_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    quiet: Mapped[list] = mapped_column(JSON)   # [[iso time, definition sha | null], ...]


class HeldFact(Base):
    """A fact held by one guest from ``start`` to ``end`` (NULL: still held), one stay
    stitched across migrations, with the events that prove it (app/facts/intervals.py)."""

    __tablename__ = "held_facts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(Text)   # graphics ports: "<host>:<port>"
    domain_uuid: Mapped[str] = mapped_column(String(36))
    hosts: Mapped[list] = mapped_column(JSON)
    start: Mapped[datetime] = mapped_column(DateTime)
    end: Mapped[datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(16))
    attrs: Mapped[dict] = mapped_column(JSON)
    event_ids: Mapped[list] = mapped_column(JSON)
    # NULL: from the guest's own events; else the network whose hook calls say it (a port's
    # MAC held by its owner, app/facts/networks.py): the pass recomputes the rows per source.
    source: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (
        # GET /attribution: the holders of one key, newest stay first, bounded by start.
        Index("ix_held_facts_kind_key_start", "kind", "key", "start"),
        # The facts pass replaces one guest's rows; the guest page lists them.
        Index("ix_held_facts_domain", "domain_uuid", "start"),
        # ... and one network's.
        Index("ix_held_facts_source", "source", "start"),
    )


class FactConflict(Base):
    """Two guests holding one MAC (same segment) or one writable disk at once
    (app/facts/collisions.py); ``end`` NULL while both still hold it."""

    __tablename__ = "fact_conflicts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(Text)
    scope: Mapped[str | None] = mapped_column(Text)
    guest_a: Mapped[str] = mapped_column(String(36))
    guest_b: Mapped[str] = mapped_column(String(36))
    hosts: Mapped[list] = mapped_column(JSON)
    start: Mapped[datetime] = mapped_column(DateTime)
    end: Mapped[datetime | None] = mapped_column(DateTime)
    detected_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)   # when the pass saw it end

    __table_args__ = (
        # GET /conflicts: newest first, keyset on (start, id); the Overview's ongoing ones.
        Index("ix_fact_conflicts_start", "start", "id"),
        # The facts pass compares the stored conflicts of the keys it recomputed.
        Index("ix_fact_conflicts_kind_key", "kind", "key"),
    )


class DefinitionChange(Base):
    """A guest's definition differs from its previous boot's (app/facts/drift.py)."""

    __tablename__ = "definition_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    domain_uuid: Mapped[str] = mapped_column(String(36))
    boot_start: Mapped[datetime] = mapped_column(DateTime)
    hosts: Mapped[list] = mapped_column(JSON)
    before_sha: Mapped[str] = mapped_column(String(64))
    after_sha: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(36))   # the boot's first XML event
    categories: Mapped[str] = mapped_column(String(128))   # ",memory,disks," (LIKE filter)
    changes: Mapped[list] = mapped_column(JSON)   # [{category, item, action}, ...]

    __table_args__ = (
        # GET /changes: definitions changed in a time range, newest first.
        Index("ix_definition_changes_start", "boot_start", "id"),
        # GET /guests/{uuid}/changes and the pass's replace of one guest's rows.
        Index("ix_definition_changes_domain", "domain_uuid", "boot_start"),
    )

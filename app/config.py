"""One Settings object for the server, read from ``HOOKAUDIT_*`` environment variables.

Built by ``create_app()`` (or the CLI) and injected; nothing reads the environment at import.
"""
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOOKAUDIT_", extra="ignore")

    database_url: str = Field(
        "sqlite:///./hookaudit.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    ingest_max_events: int = Field(1000, ge=1, description="most events in one ingest batch (413)")
    ingest_max_bytes: int = Field(32 * 1024 * 1024, ge=1024,
                                  description="largest ingest request body in bytes (413)")
    clock_skew_future_s: int = Field(
        600, ge=0, description="an event's started_at more than this ahead of the server's "
        "receive time is flagged clock_skew and placed at the receive time (docs/security.md)")
    clock_skew_past_days: int = Field(
        3650, ge=1, description="the same for started_at more than this many days in the past")
    timeline_max_events: int = Field(20000, ge=100,
                                     description="most events one guest timeline reads")
    timeline_dense_calls: int = Field(
        1000, ge=0, description="past this many calls in a guest page's range, its "
        "picture counts calls per host and time bucket in the database instead of drawing a "
        "bar per boot, and lists the boots of the newest calls (docs/dashboard.md)")
    facts_pass: Literal["thread", "worker"] = Field(
        "thread", description="where the facts pass runs: `thread` in the server process, "
        "`worker`: not in the server, in `hookaudit facts worker` processes (another core; "
        "docs/attribution.md#where-the-pass-runs)")
    facts_pass_interval_s: float = Field(
        2.0, ge=0, description="the facts pass runs this long after an ingest (or every this "
        "many seconds; the worker polls the queue this often); 0: not in the server, run "
        "`hookaudit facts catch-up`")
    facts_host_local_networks: str = Field(
        "", description="comma-separated networks whose MACs collide only within one host "
        "(`default`, or a scope such as `bridge:virbr1`), besides the NAT/route/open/isolated "
        "networks whose own XML says so")
    facts_shared_networks: str = Field(
        "", description="comma-separated networks (or scopes) that are one segment across "
        "hosts whatever their XML says")
    host_stale_after_s: int = Field(300, ge=1,
                                    description="a host not seen for this long is `stale`")
    host_lag_warn_s: int = Field(600, ge=1,
                                 description="oldest unsent spool event older than this: `lagging`")
    secret_key: str | None = Field(None, description="signs dashboard sessions (dashboard)")
    session_max_age_s: int = Field(8 * 3600, ge=60, description="dashboard login lifetime (s)")
    session_cookie_secure: bool = Field(
        True, description="send the session cookie over HTTPS only; false only for plain-HTTP demos")
    login_max_failures: int = Field(5, ge=1, description="failed dashboard logins per account "
                                    "before logins for it get 429 for the rest of the window")
    login_max_failures_per_client: int = Field(20, ge=1, description="failed dashboard logins "
                                               "per client address before 429")
    login_window_s: int = Field(300, ge=1, description="login throttling window (s): a lockout "
                                "never lasts longer")
    pool_size: int = Field(10, ge=1, description="PostgreSQL connection pool size per process")
    log_level: str = Field("info", description="uvicorn / app log level")
    policy_dir: str | None = Field(None, description="policy YAML directory compiled into the "
                                   "bundle of /api/v1/policy-bundle; unset: an empty bundle")
    # --- operations (docs/operations.md): alerts, metrics, retention -----------------------
    webhook_urls: str = Field("", description="comma-separated alert webhooks; slack+https://... "
                              "or json+https://... picks the body format (else auto)")
    alert_kinds: str = Field("aborted,killed,policy_denied,seq_gap,chain_failure,host_silent,"
                             "conflict",
                             description="which facts notify (comma-separated)")
    alert_group_wait_s: float = Field(10.0, ge=0, description="collect a burst this long, then send")
    alert_window_s: float = Field(300.0, ge=1, description="at most one alert per group per window")
    alert_max_attempts: int = Field(6, ge=1, description="delivery attempts per alert and webhook")
    alert_backoff_s: float = Field(2.0, gt=0, description="first retry delay; doubles per attempt")
    alert_timeout_s: float = Field(5.0, gt=0, description="HTTP timeout of one delivery attempt")
    alert_silent_after_s: float = Field(900.0, ge=0,
                                        description="alert when a host is silent this long (0 = off)")
    public_url: str | None = Field(None, description="dashboard URL quoted in alerts")
    metrics_token: str | None = Field(None, description="bearer token GET /metrics requires")
    metrics_public: bool = Field(False, description="serve GET /metrics without a token (it "
                                 "lists host names); else HOOKAUDIT_METRICS_TOKEN is required")
    retention_days: int = Field(0, ge=0, description="`hookaudit prune` keeps events this many "
                                "days (0 = keep forever unless --days is given)")
    retention_abort_days: int = Field(0, ge=0, description="aborted/killed/timed-out events are "
                                      "kept this long (0 = same as retention_days)")

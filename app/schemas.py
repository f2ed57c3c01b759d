"""Pydantic models of the wire contract (same field names as hookshim/event.py) and API bodies.

Ingest validates each raw event dict with ``WireEvent`` but hashes and stores the raw dict
itself, so validation never changes what the chain covers (strict: no coercion).
"""
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.timeutil import parse_iso
from hookshim import limits
from hookshim.event import ENVELOPE_VERSION, KINDS, OUTCOMES

# Every bound comes from hookshim/limits.py: the shim fits its events to the same numbers
# before it hashes them, so it never spools an event refused here.
INT32 = limits.INT32
INT64 = limits.INT64
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Short = Annotated[str, Field(max_length=limits.SHORT)]
Word = Annotated[str, Field(min_length=1, max_length=limits.WORD)]
Text = Annotated[str, Field(max_length=limits.TEXT)]
XmlText = Annotated[str, Field(max_length=limits.XML)]
HostName = Annotated[str, Field(min_length=1, max_length=limits.HOST)]
Items = Field(max_length=limits.ITEMS)
UUID_RE = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class _Strict(BaseModel):
    # strict: a float seq or a "1" exit_code is refused rather than silently converted.
    model_config = ConfigDict(strict=True, extra="allow")


class Decision(_Strict):
    rule_id: Short
    mode: Word
    verdict: Word
    message: Text | None = None
    error: Text | None = None


class PolicyInfo(_Strict):
    bundle_version: Annotated[str, Field(max_length=limits.BUNDLE_VERSION)] | None = None
    decisions: Annotated[list[Decision], Items] = []


class ScriptRun(_Strict):
    path: Text
    exit_code: Annotated[int, Field(ge=-INT32, le=INT32)] | None = None
    duration_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    stderr: Text | None = None
    timed_out: bool = False


class ShimInfo(_Strict):
    version: Annotated[str, Field(max_length=limits.SHIM_VERSION)] | None = None
    hostname: Annotated[str, Field(max_length=limits.HOST)] | None = None
    pid: Annotated[int, Field(ge=0, le=INT32)] | None = None


class WireEvent(_Strict):
    """One event as the shim sends it (envelope v1)."""

    v: Literal[1] = Field(description=f"envelope version ({ENVELOPE_VERSION})")
    kind: Literal[KINDS] = "hook"  # type: ignore[valid-type]
    event_id: Annotated[str, Field(pattern=UUID_RE)]
    host: HostName
    seq: Annotated[int, Field(ge=1, le=INT64)]
    prev_hash: Hex64
    hash: Hex64
    driver: Word
    object: Annotated[str, Field(max_length=limits.OBJECT)]
    op: Word
    subop: Annotated[str, Field(max_length=limits.SUBOP)]
    extra: Annotated[str, Field(max_length=limits.EXTRA)]
    domain_uuid: Annotated[str, Field(pattern=UUID_RE)] | None = None
    started_at: Annotated[str, Field(max_length=limits.STARTED_AT)]
    duration_ms: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    exit_code: Annotated[int, Field(ge=-INT32, le=INT32)] | None = None
    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]
    reason: Text | None = None
    stderr: Text | None = None
    xml: XmlText | None = None
    xml_sha256: Hex64 | None = None
    xml_truncated: bool = False
    output_xml: XmlText | None = None
    output_xml_sha256: Hex64 | None = None
    redactions: Annotated[int, Field(ge=0, le=INT32)] = 0
    policy: PolicyInfo | None = None
    scripts: Annotated[list[ScriptRun], Items] = []
    warnings: Annotated[list[Text], Items] = []
    dropped: Annotated[int, Field(ge=0, le=INT64)] | None = None
    shim: ShimInfo | None = None

    @field_validator("started_at")
    @classmethod
    def _utc_iso(cls, value: str) -> str:
        parse_iso(value)
        return value


def reject_non_finite(value: Any) -> None:
    """json.loads accepts NaN/Infinity; the contract's canonical JSON must not carry them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("non-finite number")


class IngestBatch(BaseModel):
    """Request body of POST /api/v1/ingest (documentation; the handler validates per event)."""

    events: list[WireEvent]


class IngestResult(BaseModel):
    event_id: str
    status: Literal["stored", "duplicate"]


class ChainProblemOut(BaseModel):
    event_id: str
    seq: int
    problem: str


class IngestResponse(BaseModel):
    stored: int
    duplicates: int
    results: list[IngestResult]
    gaps: list[tuple[int, int]]
    chain_problems: list[ChainProblemOut]


class ChainHead(BaseModel):
    """The newest event the server acknowledged to the host (app/services/chain_heads.py)."""
    seq: Annotated[int, Field(ge=1, le=INT64)]
    hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Heartbeat(BaseModel):
    host: HostName
    shim_version: Annotated[str, Field(max_length=limits.SHIM_VERSION)] | None = None
    spool_depth: Annotated[int, Field(ge=0, le=INT64)] | None = None
    oldest_unsent_age_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    parked: Annotated[int, Field(ge=0, le=INT64)] | None = None
    last_seq: Annotated[int, Field(ge=0, le=INT64)] | None = None
    last_error: Annotated[str, Field(max_length=limits.HEARTBEAT_ERROR)] | None = None
    chain_head: ChainHead | None = None
    # hookshim/forward_bundle.py bundle_report. Unbounded here and cut when stored: a shim
    # whose refusal reason is long must still get its heartbeat through.
    bundle_signer: str | None = None
    bundle_serial: int | None = None
    bundle_refused: str | None = None
    bundle_warning: str | None = None
    # The libvirt the shim was installed for (its config), shown on the host page.
    libvirt_version: str | None = None
    libvirt_daemon: str | None = None


class HeartbeatResponse(BaseModel):
    ok: bool
    server_time: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The one error shape of every API error."""

    error: ErrorBody

"""Ingest, step one: parse a batch body and validate every event before touching the database.

    parse_batch(body, max_events) -> raw event dicts      (413 too many, 422 not JSON)
    check_batch(events, host)     -> [Prepared]           (403 another host, 422 per event)

Each raw dict is validated with the strict ``WireEvent`` model but kept as received: the
canonical form hashed and stored is computed from it (``Prepared``), once.
"""
import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from app.errors import ApiError
from app.schemas import WireEvent, parse_time, reject_non_finite
from hookshim.event import canonical_bytes, xml_digest


@dataclass(slots=True)
class Prepared:
    """One valid event and what ingest derives from it, computed once."""

    raw: dict
    canonical: bytes           # hookshim.event.canonical_bytes(raw): stored, and hashed
    xml_sha: str | None        # hookshim.event.xml_digest of the bodies as received
    out_sha: str | None
    started_at: datetime


def prepare(raw: dict) -> Prepared:
    """Raises UnicodeEncodeError/ValueError when the shim could not have hashed ``raw``."""
    return Prepared(raw, canonical_bytes(raw), xml_digest(raw.get("xml")),
                    xml_digest(raw.get("output_xml")), parse_time(raw["started_at"]))


def parse_batch(body: bytes, max_events: int) -> list[dict]:
    """The raw event dicts of a request body; 413 past the count limit, 422 when malformed."""
    try:
        doc = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(422, "invalid_json", f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise ApiError(422, "validation_error", 'body must be {"events": [...]}',
                       [{"index": None, "event_id": None, "field": "events",
                         "message": "a list of events is required"}])
    events = doc["events"]
    if len(events) > max_events:
        raise ApiError(413, "batch_too_large",
                       f"{len(events)} events in one batch, at most {max_events}")
    return events


def _no_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _finite(text: str) -> float:
    value = float(text)
    reject_non_finite(value)   # 1e999 parses as inf; canonical JSON cannot carry it
    return value


def check_batch(events: list, host: str) -> list[Prepared]:
    """403 when an event claims another host; 422 naming each invalid event and field."""
    for raw in events:
        if isinstance(raw, dict) and isinstance(raw.get("host"), str) and raw["host"] != host:
            raise ApiError(403, "wrong_host",
                           f"event {raw.get('event_id')!r} claims host {raw['host']!r}; "
                           f"this token belongs to {host!r}")
    details, prepared = [], []
    for index, raw in enumerate(events):
        errors, ready = _event_errors(index, raw)
        details.extend(errors)
        prepared.append(ready)
    if details:
        raise ApiError(422, "validation_error", f"{len(details)} problem(s) in the batch", details)
    return prepared


def _event_errors(index: int, raw) -> tuple[list[dict], Prepared | None]:
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    event_id = event_id if isinstance(event_id, str) else None
    base = {"index": index, "event_id": event_id}
    try:
        WireEvent.model_validate(raw)
    except ValidationError as exc:
        return [dict(base, field=".".join(map(str, e["loc"])), message=e["msg"])
                for e in exc.errors()], None
    try:
        return [], prepare(raw)
    except (UnicodeEncodeError, TypeError, ValueError) as exc:   # the shim could not hash it
        return [dict(base, field="", message=f"not canonically encodable: {exc}")], None

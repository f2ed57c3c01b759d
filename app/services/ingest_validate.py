"""Ingest, step one: parse a batch body and validate every event before touching the database.

    parse_batch(body, max_events) -> raw event dicts      (413 too many, 422 not JSON)
    check_batch(events, host)     -> [Prepared]           (403 another host, 422 per event)

Each raw dict is validated with the strict ``WireEvent`` model but kept as received: the
canonical form hashed and stored is computed from it (``Prepared``), once.

Speed (docs/server.md "Benchmarks"): the body is parsed with orjson and canonical forms are
encoded with orjson whenever that gives exactly what the stdlib gives (``_plain``); any
other body takes the stdlib path, so what is accepted, refused and hashed does not change.
"""
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from app.schemas import WireEvent, reject_non_finite
from app.services.errors import Forbidden, Invalid, TooLarge
from app.timeutil import iso, parse_iso
from hookshim.event import UNHASHED_FIELDS, canonical_bytes
from hookshim.limits import DEPTH

# Where json.dumps (float.__repr__) and orjson.dumps write a float alike: fixed notation,
# 1e-4 <= |f| < 1e16 (tests/server/test_ingest_fast_json.py proves it with hypothesis).
# Above it orjson's parse may also have turned an integer past 64 bits into a float.
_FLOAT_LO, _FLOAT_HI = 1e-4, 1e16


def _batch_model() -> type[BaseModel]:
    """WireEvent for the whole-batch check: the same fields and constraints, without the
    ``started_at`` validator (``prepare`` parses started_at with the same ``parse_iso``, once
    instead of twice) and without keeping unknown fields (nothing reads the model). Accepts
    exactly what WireEvent + prepare accept; WireEvent itself names the problems. Should
    WireEvent gain another validator, the batch check is WireEvent itself."""
    decorators = WireEvent.__pydantic_decorators__
    known = {name: (d.info.fields, d.info.mode) for name, d in decorators.field_validators.items()}
    others = (decorators.model_validators, decorators.validators, decorators.root_validators)
    if known != {"_utc_iso": (("started_at",), "after")} or any(others):
        return WireEvent   # pragma: no cover - guard for a future WireEvent change
    fields = {name: (f.annotation, f) for name, f in WireEvent.model_fields.items()}
    config = ConfigDict(WireEvent.model_config, extra="ignore")
    return create_model("WireEventBatchCheck", __config__=config, **fields)


_EVENTS = TypeAdapter(list[_batch_model()])


@dataclass(slots=True)
class Prepared:
    """One valid event and what ingest derives from it, computed once."""

    raw: dict
    canonical: bytes           # hookshim.event.canonical_bytes(raw): stored, and hashed
    xml_sha: str | None        # hookshim.event.xml_digest of the bodies as received
    out_sha: str | None
    started_at: datetime
    nul: bool                  # canonical holds \u0000 (how JSON writes NUL): without it
                               # no string of the event holds NUL (PostgreSQL text cannot)
    plain: bool = False        # _plain(raw) holds: orjson writes its values as json does
    sent_id: str | None = None   # the event_id as sent, when it was not lower-case
    claimed: datetime | None = None   # the host's started_at when clock_skew.py moved it


class PlainEvents(list):
    """parse_batch's events when orjson parsed them and ``_plain`` passed the whole body."""


def prepare(raw: dict, plain: bool = False) -> Prepared:
    """Raises UnicodeEncodeError/ValueError when the shim could not have hashed ``raw``.
    ``plain``: ``_plain(raw)`` is known to hold (it is checked otherwise). Once its canonical
    form is taken, ``raw["event_id"]`` becomes lower-case: one event is one id whatever case
    a client sent it in (an upper-case copy is a duplicate, not a second event)."""
    if not plain:   # else _plain, bounded by depth, already walked the whole body
        _check_depth(raw)
    form, plain = _canonical(raw, plain)
    sent_id, event_id = raw["event_id"], raw["event_id"].lower()
    if event_id != sent_id:   # hashed as sent; stored, deduplicated and found lower-case
        raw["event_id"] = event_id
    return Prepared(raw, form, _digest(raw.get("xml")), _digest(raw.get("output_xml")),
                    canonical_time(raw["started_at"]), b"\\u0000" in form, plain,
                    sent_id if event_id != sent_id else None)


class NotCanonical(ValueError):
    """A field the host hashed in a form other than the one the contract defines."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _check_depth(raw: dict) -> None:
    """NotCanonical when a field nests JSON containers deeper than hookshim.limits.DEPTH:
    refused before any encoder recurses into it (orjson stops at 255 levels: a 500 once)."""
    for name, value in raw.items():
        kind = type(value)
        if (kind is dict or kind is list) and _deeper(value, DEPTH):
            raise NotCanonical(name, f"{name} nests JSON more than {DEPTH} levels deep")


def _deeper(value, room: int) -> bool:
    """True when ``value`` (a container) and those inside it nest more than ``room`` deep."""
    if room == 0:
        return True
    for item in (value.values() if type(value) is dict else value):
        kind = type(item)
        if (kind is dict or kind is list) and _deeper(item, room - 1):
            return True
    return False


def canonical_time(value: str) -> datetime:
    """``started_at`` as a naive UTC datetime, accepted only in the one form the shim writes
    (hookshim.event.utc_timestamp). The host hashed these exact bytes, so the server must not
    rewrite them, and any other spelling of the same instant would be shown differently from
    what was hashed: refused (422), never "normalised"."""
    when = parse_iso(value)
    if iso(when) != value:
        raise NotCanonical("started_at", f"{value!r} is not canonical: UTC with microseconds "
                           "and Z, like 2026-11-25T18:13:46.123456Z")
    return when


def canonical(raw: dict, plain: bool = False) -> bytes:
    """``hookshim.event.canonical_bytes(raw)``, byte for byte; through orjson when ``raw``
    holds only values both encoders write alike (~4x faster), else canonical_bytes itself."""
    return _canonical(raw, plain)[0]


def _canonical(raw: dict, plain: bool) -> tuple[bytes, bool]:
    """(canonical form, whether orjson wrote it: ``raw`` is plain)."""
    try:
        fast = orjson is not None and (plain or _plain(raw, DEPTH + 1))
    except RecursionError:   # nested deeper than this walk goes: json.dumps decides
        fast = False
    if fast:
        body = dict(raw)
        for key in UNHASHED_FIELDS:
            body.pop(key, None)
        try:
            return orjson.dumps(body, option=orjson.OPT_SORT_KEYS), True
        except orjson.JSONEncodeError:   # an int past 64 bits (only from Python callers)
            pass
    return canonical_bytes(raw), False


def _digest(text: str | None) -> str | None:
    """hookshim.event.xml_digest (same bytes, same digest) with hashlib's faster sha256."""
    if text is None:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _plain(value, room: int = DEPTH + 3) -> bool:
    """True when ``value`` (a dict or list) holds only JSON's own types, every float finite
    and in [_FLOAT_LO, _FLOAT_HI) or zero: there orjson and json parse and write the same;
    and nests at most ``room`` containers deep, itself included (a batch body holds events
    in a list: DEPTH + 3 lets each event field nest DEPTH, so a plain body needs no
    _check_depth walk of its own)."""
    if room == 0:
        return False
    for item in (value.values() if type(value) is dict else value):
        kind = type(item)
        if kind is str or kind is int or item is None or kind is bool:
            continue
        if kind is float:
            if not (_FLOAT_LO <= abs(item) < _FLOAT_HI or item == 0.0):   # NaN fails both
                return False
        elif kind is dict or kind is list:
            if not _plain(item, room - 1):
                return False
        else:
            return False
    return True


def parse_batch(body: bytes, max_events: int) -> list[dict]:
    """The raw event dicts of a request body; 413 past the count limit, 422 when malformed."""
    doc = _fast_loads(body)
    plain = doc is not None
    if doc is None:
        try:
            doc = json.loads(body, parse_constant=_no_constant, parse_float=_finite)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise Invalid(f"body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise Invalid('body must be {"events": [...]}',
                      [{"index": None, "event_id": None, "field": "events",
                        "message": "a list of events is required"}])
    events = PlainEvents(doc["events"]) if plain else doc["events"]
    if len(events) > max_events:
        raise TooLarge(f"{len(events)} events in one batch, at most {max_events}",
                       code="batch_too_large")
    return events


def _fast_loads(body: bytes):
    """orjson's parse of ``body`` when it is exactly json.loads's, else None (then the stdlib
    parses: it accepts what orjson refuses - a BOM, UTF-16, lone surrogate escapes - and
    words the refusals). orjson refuses NaN, Infinity and 1e999 itself; it reads an integer
    past 64 bits as a float, which ``_plain`` sends to the stdlib (>= 1e16)."""
    try:
        doc = orjson.loads(body)
        return doc if type(doc) is not dict or _plain(doc) else None
    except (orjson.JSONDecodeError, RecursionError):
        return None


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
            raise Forbidden(f"event {raw.get('event_id')!r} claims host {raw['host']!r}; "
                            f"this token belongs to {host!r}", code="wrong_host")
    try:   # the whole batch in one call; the per-event walk below only names the problems
        _EVENTS.validate_python(events)
        plain = type(events) is PlainEvents
        return [prepare(raw, plain) for raw in events]
    except (ValidationError, UnicodeEncodeError, TypeError, ValueError, RecursionError):
        pass
    details, prepared = [], []
    for index, raw in enumerate(events):
        errors, ready = _event_errors(index, raw)
        details.extend(errors)
        prepared.append(ready)
    if details:
        raise Invalid(f"{len(details)} problem(s) in the batch", details)
    return prepared   # pragma: no cover - the batch call and the walk disagree


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
    except NotCanonical as exc:
        return [dict(base, field=exc.field, message=str(exc))], None
    except (UnicodeEncodeError, TypeError, ValueError, RecursionError) as exc:
        # the shim could not have hashed it
        return [dict(base, field="", message=f"not canonically encodable: {exc}")], None

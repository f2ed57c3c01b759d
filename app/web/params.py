"""Query strings of pages -> the API's own query models (one definition of every filter).

Forms submit empty fields; they mean "no filter" and are dropped. Repeated keys
(``?host=a&host=b``) become lists, as in the API.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from app.schemas_query import EventFilters, PageParams
from app.timeutil import iso

LIST_FIELDS = ("host", "guest", "driver", "op", "outcome")


def query_dict(request: Request, allowed) -> dict:
    out: dict = {}
    for key in allowed:
        values = [v for v in request.query_params.getlist(key) if v.strip()]
        if values:
            out[key] = values if key in LIST_FIELDS else values[0]
    return out


def parse(request: Request, model: type[BaseModel]) -> tuple[BaseModel, str | None]:
    """(model instance, error message); on bad input the defaults and a readable message."""
    try:
        return model.model_validate(query_dict(request, model.model_fields)), None
    except ValidationError as exc:
        msg = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return model(), f"Some filters were not understood and were ignored: {msg}"


def event_filters(request: Request) -> tuple[EventFilters, PageParams, str | None]:
    f, err1 = parse(request, EventFilters)
    p, err2 = parse(request, PageParams)
    return f, p, err1 or err2


def qs(params: dict, **changes) -> str:
    """The query string of ``params`` with ``changes`` (None removes a key): permalinks."""
    merged = {**params, **changes}
    pairs = []
    for key, value in merged.items():
        if value is None or value == "" or value == []:
            continue
        for v in value if isinstance(value, list) else [value]:
            pairs.append((key, iso(v) if isinstance(v, datetime) else v))
    return urlencode(pairs)


def filter_state(f: EventFilters) -> dict:
    """The non-empty filters as a dict for links (the permalink of the current view)."""
    return {k: v for k, v in f.model_dump().items() if v not in (None, [], "")}


def page_links(base: str, params: dict, cursor: str | None, **changes) -> dict:
    """A list's next page as rows for htmx (``more_url``: ``base``/rows) and as a page for a
    browser without script (``next_url``); both None at the end."""
    if cursor is None:
        return {"more_url": None, "next_url": None}
    query = qs(params, cursor=cursor, **changes)
    return {"more_url": f"{base}/rows?{query}", "next_url": f"{base}?{query}"}

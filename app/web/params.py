"""Query strings of pages -> the API's own query models (one definition of every filter).

Forms submit empty fields; they mean "no filter" and are dropped. Repeated keys
(``?host=a&host=b``) become lists, as in the API. A parameter the page does not know, or a
value it cannot use, is dropped with a notice naming it (the API answers 422 instead); the
other filters still apply.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from app.schemas_query import EventFilters, PageParams
from app.timeutil import iso

LIST_FIELDS = ("host", "guest", "driver", "op", "outcome", "rule", "verdict")
# Parameters of list pages besides the filters: paging, the aborts' grouping, the page's
# own "behind" switch.
PAGE_EXTRAS = {"cursor", "limit", "order", "by"}


def query_dict(request: Request, allowed) -> dict:
    out: dict = {}
    for key in allowed:
        values = [v for v in request.query_params.getlist(key) if v.strip()]
        if values:
            out[key] = values if key in LIST_FIELDS else values[0]
    return out


def parse(request: Request, model: type[BaseModel]) -> tuple[BaseModel, list[str]]:
    """(model instance, problems): a field whose value is not understood is left out (its
    default applies) and named in a problem; the others still apply."""
    data, problems = query_dict(request, model.model_fields), []
    while True:
        try:
            return model.model_validate(data), problems
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            problems += [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
            if not bad & set(data):
                return model(), problems
            data = {k: v for k, v in data.items() if k not in bad}


def unknown_params(request: Request, known) -> list[str]:
    """Query parameters a page does not know, in the order given (no duplicates)."""
    return list(dict.fromkeys(k for k in request.query_params if k not in known))


def notice(problems: list[str], unknown: list[str]) -> str | None:
    """The page's visible notice about what was ignored, or None."""
    parts = [f"unknown parameter {name!r}" for name in unknown] + problems
    return f"Some filters were not understood and were ignored: {'; '.join(parts)}" \
        if parts else None


def event_filters(request: Request) -> tuple[EventFilters, PageParams, str | None]:
    f, problems = parse(request, EventFilters)
    p, more = parse(request, PageParams)
    unknown = unknown_params(request, {*EventFilters.model_fields, *PAGE_EXTRAS})
    return f, p, notice(problems + more, unknown)


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

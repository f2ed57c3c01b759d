"""The time range of a page: presets, the default range, and the histogram above a list.

Every page with a range reads it the same way: ``since``/``until`` as the API takes them
(ISO, ``now``, ``-24h``: app/timerange.py); neither given means DEFAULT_SINCE. Links keep
the bounds as written, so a permalink to "the last 24 h" stays relative.
"""
from __future__ import annotations

from starlette.requests import Request

from app.schemas_query import EventFilters
from app.timerange import DEFAULT_SINCE, PRESETS, parse_bound, preset_of
from app.timeutil import utcnow
from app.web.histogram_svg import histogram_svg
from app.web.params import qs


def raw_bounds(request: Request) -> tuple[str | None, str | None]:
    """since/until exactly as the URL has them (empty = absent)."""
    return tuple(request.query_params.get(k, "").strip() or None for k in ("since", "until"))


def with_range(request: Request, f: EventFilters) -> tuple[EventFilters, dict]:
    """``f`` with the default range when the URL names none, and the range as the page shows
    it: the bounds as written (``since``/``until``; ``given``: as the URL has them, for the
    form), which preset that is, and the presets."""
    since, until = given = raw_bounds(request)
    if f.since is None and f.until is None:      # none given (or not understood): the default
        since, until, given = DEFAULT_SINCE, None, (None, None)
        f = f.model_copy(update={"since": parse_bound(DEFAULT_SINCE, utcnow())})
    return f, {"since": since if f.since else None, "until": until if f.until else None,
               "preset": preset_of(since, until), "presets": list(PRESETS),
               "default": DEFAULT_SINCE, "given": {"since": given[0], "until": given[1]}}


def range_state(state: dict, tr: dict) -> dict:
    """The filters of a page for its links, with the bounds as written (``-24h`` stays so)."""
    out = {k: v for k, v in state.items() if k not in ("since", "until")}
    return out | {k: tr[k] for k in ("since", "until") if tr[k]}


def histogram_context(h: dict, base: str, state: dict, tr: dict) -> dict:
    """What ``_histogram.html`` renders: the preset links and the SVG (each bar narrows the
    range to its bucket; dragging narrows to the span, hookaudit.js)."""
    keep = {k: v for k, v in state.items() if k not in ("since", "until", "cursor")}

    def href(since: str, until: str | None) -> str:
        return f"{base}?{qs(keep, since=since, until=until)}"

    return {"histogram": h, "tr": tr, "preset_links": {p: href(PRESETS[p], None)
                                                       for p in tr["presets"]},
            "histogram_svg": histogram_svg(h, href, drag_base=f"{base}?{qs(keep)}")}

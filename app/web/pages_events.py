"""Events (filters, permalinks, exports, infinite scroll), aborts (grouped) and one event.

Each list has a page route and a rows route (healthchecks' ``log`` / ``log_events``):
``/events/rows`` and ``/aborts/rows`` answer only the rows partial the page includes (htmx
"more rows"); the filter form swaps a part of the full page (``hx-select``). JSON twins: /api/v1/events, /api/v1/aborts,
/api/v1/aborts/groups, /api/v1/events/{id}.
"""
from fastapi import APIRouter, Request

from app.deps import SessionDep, SettingsDep
from app.services import events as events_service
from app.services.aborts import GROUPINGS, abort_groups
from app.services.errors import NotFound
from app.services.histogram import histogram
from app.web.auth import PageUser
from app.web.params import event_filters, filter_state, page_links, qs
from app.web.ranges import histogram_context, range_state, with_range
from app.web.render import render

router = APIRouter(include_in_schema=False)


def _list_context(f, p, error, page: dict, base: str, tr: dict) -> dict:
    """What a list page and its rows partial render: the page, the filters as links (the
    time range as written), and the next page's URL as rows (htmx) and as a page."""
    state = range_state(filter_state(f), tr)
    return {"page": page, "f": f, "state": state, "error": error, "qs": qs, "base": base,
            "tr": tr, **page_links(base, state, page["next_cursor"], limit=p.limit)}


def _filters(request: Request):
    f, p, error = event_filters(request)
    f, tr = with_range(request, f)
    return f, p, error, tr


def _events(request: Request, session) -> dict:
    f, p, error, tr = _filters(request)
    return _list_context(f, p, error, events_service.list_events(session, f, p), "/events", tr)


def _aborts(request: Request, session) -> dict:
    f, p, error, tr = _filters(request)
    return _list_context(f, p, error, events_service.list_aborts(session, f, p), "/aborts", tr)


def _with_histogram(ctx: dict, session, aborts: bool = False) -> dict:
    """The list's context plus the histogram of the same filters and range."""
    h = histogram(session, ctx["f"], aborts=aborts)
    ctx.update(histogram_context(h, ctx["base"], ctx["state"], ctx["tr"]),
               histogram_qs=qs(ctx["state"], scope="aborts" if aborts else None))
    return ctx


@router.get("/events")
def events_page(request: Request, _user: PageUser, session: SessionDep):
    return render(request, "events.html", _with_histogram(_events(request, session), session))


@router.get("/events/rows")
def events_rows(request: Request, _user: PageUser, session: SessionDep):
    return render(request, "_event_rows.html", _events(request, session))


@router.get("/aborts")
def aborts_page(request: Request, _user: PageUser, session: SessionDep):
    ctx = _with_histogram(_aborts(request, session), session, aborts=True)
    by = request.query_params.get("by", "reason")
    by = by if by in GROUPINGS else "reason"
    ctx.update(by=by, groupings=GROUPINGS, grouped=abort_groups(session, ctx["f"], by))
    return render(request, "aborts.html", ctx)


@router.get("/aborts/rows")
def aborts_rows(request: Request, _user: PageUser, session: SessionDep):
    return render(request, "_event_rows.html", _aborts(request, session))


@router.get("/events/{event_id}")
def event_page(request: Request, event_id: str, _user: PageUser, session: SessionDep,
               settings: SettingsDep):
    from app.policy.matched import matched_elements
    from app.policy.service import cache_for

    ev = events_service.get_event(session, event_id)
    if ev is None:
        raise NotFound("event", event_id, "No event has this id. It may have been pruned by "
                                          "retention, or the link is cut short.")
    bundle = cache_for(settings).get()[0]
    return render(request, "event.html", {"ev": ev, "matched": matched_elements(bundle, ev)})

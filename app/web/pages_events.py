"""Events (filters, permalinks, exports, infinite scroll), aborts (grouped) and one event.

Each list has a page route and a rows route (healthchecks' ``log`` / ``log_events``):
``/events/rows`` and ``/aborts/rows`` answer only the rows partial the page includes (htmx
"more rows"); the filter form swaps a part of the full page (``hx-select``). JSON twins: /api/v1/events, /api/v1/aborts,
/api/v1/aborts/groups, /api/v1/events/{id}.
"""
from fastapi import APIRouter, Request

from app.deps import SessionDep
from app.services import events as events_service
from app.services.aborts import GROUPINGS, abort_groups
from app.services.errors import NotFound
from app.web.auth import PageUser
from app.web.params import event_filters, filter_state, page_links, qs
from app.web.render import render

router = APIRouter(include_in_schema=False)


def _list_context(f, p, error, page: dict, base: str) -> dict:
    """What a list page and its rows partial render: the page, the filters as links, and
    the next page's URL as rows (htmx) and as a page (no script)."""
    state = filter_state(f)
    return {"page": page, "f": f, "state": state, "error": error, "qs": qs, "base": base,
            **page_links(base, state, page["next_cursor"], limit=p.limit)}


def _events(request: Request, session) -> dict:
    f, p, error = event_filters(request)
    return _list_context(f, p, error, events_service.list_events(session, f, p), "/events")


def _aborts(request: Request, session) -> dict:
    f, p, error = event_filters(request)
    return _list_context(f, p, error, events_service.list_aborts(session, f, p), "/aborts")


@router.get("/events")
def events_page(request: Request, _user: PageUser, session: SessionDep):
    return render(request, "events.html", _events(request, session))


@router.get("/events/rows")
def events_rows(request: Request, _user: PageUser, session: SessionDep):
    return render(request, "_event_rows.html", _events(request, session))


@router.get("/aborts")
def aborts_page(request: Request, _user: PageUser, session: SessionDep):
    ctx = _aborts(request, session)
    by = request.query_params.get("by", "reason")
    by = by if by in GROUPINGS else "reason"
    ctx.update(by=by, groupings=GROUPINGS, grouped=abort_groups(session, ctx["f"], by))
    return render(request, "aborts.html", ctx)


@router.get("/aborts/rows")
def aborts_rows(request: Request, _user: PageUser, session: SessionDep):
    return render(request, "_event_rows.html", _aborts(request, session))


@router.get("/events/{event_id}")
def event_page(request: Request, event_id: str, _user: PageUser, session: SessionDep):
    ev = events_service.get_event(session, event_id)
    if ev is None:
        raise NotFound("event", event_id, "No event has this id. It may have been pruned by "
                                          "retention, or the link is cut short.")
    return render(request, "event.html", {"ev": ev})

"""Events (filters, permalinks, exports, infinite scroll), aborts (grouped) and one event.

``/events/rows`` and ``/aborts/rows`` answer only the rows partial (htmx "more rows");
the full pages include the same partial. JSON twins: /api/v1/events, /api/v1/aborts,
/api/v1/aborts/groups, /api/v1/events/{id}.
"""
from fastapi import APIRouter, Request

from app.deps import SessionDep
from app.services import events as events_service
from app.services.errors import NotFound
from app.services.overview import GROUPINGS, abort_groups
from app.web.auth import PageUser
from app.web.params import event_filters, filter_state, qs
from app.web.render import is_htmx, render

router = APIRouter(include_in_schema=False)


def _listing(request: Request, db, aborts: bool) -> dict:
    f, p, error = event_filters(request)
    fn = events_service.list_aborts if aborts else events_service.list_events
    page = fn(db, f, p)
    state = filter_state(f)
    base = "/aborts" if aborts else "/events"
    more = f"{base}/rows?{qs(state, cursor=page['next_cursor'], limit=p.limit)}" if page["next_cursor"] else None
    return {"page": page, "f": f, "state": state, "error": error, "qs": qs, "more_url": more,
            "next_url": more and more.replace("/rows?", "?", 1), "base": base}


@router.get("/events")
def events_page(request: Request, _user: PageUser, db: SessionDep):
    ctx = _listing(request, db, aborts=False)
    if is_htmx(request) and request.headers.get("HX-Target") == "event-rows":
        return render(request, "_event_rows.html", ctx)
    return render(request, "events.html", ctx)


@router.get("/events/rows")
def events_rows(request: Request, _user: PageUser, db: SessionDep):
    return render(request, "_event_rows.html", _listing(request, db, aborts=False))


@router.get("/aborts")
def aborts_page(request: Request, _user: PageUser, db: SessionDep):
    ctx = _listing(request, db, aborts=True)
    by = request.query_params.get("by", "reason")
    by = by if by in GROUPINGS else "reason"
    ctx.update(by=by, groupings=GROUPINGS, grouped=abort_groups(db, ctx["f"], by))
    if is_htmx(request) and request.headers.get("HX-Target") == "aborts-body":
        return render(request, "_aborts_body.html", ctx)
    return render(request, "aborts.html", ctx)


@router.get("/aborts/rows")
def aborts_rows(request: Request, _user: PageUser, db: SessionDep):
    return render(request, "_event_rows.html", _listing(request, db, aborts=True))


@router.get("/events/{event_id}")
def event_page(request: Request, event_id: str, _user: PageUser, db: SessionDep):
    ev = events_service.get_event(db, event_id)
    if ev is None:
        raise NotFound("event", event_id, "No event has this id. It may have been pruned by "
                                          "retention, or the link is cut short.")
    return render(request, "event.html", {"ev": ev})

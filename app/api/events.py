"""GET /api/v1/events (+ CSV/NDJSON export), /api/v1/events/{event_id}, /api/v1/aborts."""
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.api import API_V1
from app.deps import CurrentUser, DbDep, SessionDep, SettingsDep
from app.schemas import ErrorResponse
from app.schemas_query import AbortQuery, EventDetail, EventFilters, EventPage, EventQuery
from app.services import events as svc
from app.services.errors import NotFound
from app.services.export import MEDIA_TYPES, chunks

router = APIRouter(prefix=API_V1, tags=["events"])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 422)}
FILTER_FIELDS = set(EventFilters.model_fields)
EXPORT_RESPONSES = {
    **ERRORS, 200: {"content": {"text/csv": {}, "application/x-ndjson": {}},
                    "description": "a page (json) or every matching call (csv, ndjson)"}}


@router.get("/events", response_model=EventPage, responses=EXPORT_RESPONSES)
def get_events(params: Annotated[EventQuery, Query()], session: SessionDep, db: DbDep,
               _user: CurrentUser):
    """Events matching the filters, newest first; `format=csv|ndjson` streams all of them."""
    filters = EventFilters(**params.model_dump(include=FILTER_FIELDS))
    if params.format == "json":
        return svc.list_events(session, filters, params)
    return _export("events", params.format, svc.iter_events(db, filters, params.order))


@router.get("/aborts", response_model=EventPage, responses=EXPORT_RESPONSES)
def get_aborts(params: Annotated[AbortQuery, Query()], session: SessionDep, db: DbDep,
               _user: CurrentUser):
    """Calls that aborted, killed or timed out, newest first (same filters as /events);
    `format=csv|ndjson` streams all of them."""
    filters = EventFilters(**params.model_dump(include=FILTER_FIELDS))
    if params.format == "json":
        return svc.list_aborts(session, filters, params)
    rows = svc.iter_events(db, filters, params.order, aborts=True)
    return _export("aborts", params.format, rows)


def _export(name: str, fmt: str, rows) -> StreamingResponse:
    return StreamingResponse(chunks(fmt, rows), media_type=MEDIA_TYPES[fmt],
                             headers={"Content-Disposition":
                                      f'attachment; filename="{name}.{fmt}"'})


@router.get("/events/{event_id}", response_model=EventDetail,
            responses={**ERRORS, 404: {"model": ErrorResponse}})
def get_event(event_id: str, session: SessionDep, settings: SettingsDep, _user: CurrentUser):
    """One event with its XML, filter output, their diff, policy decisions, chain problems,
    and the XML elements that made its rules match (the event page's highlight)."""
    from app.policy.matched import matched_elements
    from app.policy.service import cache_for

    event = svc.get_event(session, event_id)
    if event is None:
        raise NotFound("event", event_id)
    found = matched_elements(cache_for(settings).get()[0], event)
    return event | {"matched": {"rules": found["rules"], "retired": found["retired"]}}

"""GET /api/v1/attribution (+ CSV/NDJSON), /api/v1/conflicts, /api/v1/changes,
/api/v1/guests/{domain_uuid}/changes: the facts of issue 17 (docs/attribution.md)."""
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.api import API_V1
from app.deps import CurrentUser, SessionDep
from app.schemas import ErrorResponse
from app.schemas_facts import AttributionQuery, ChangeQuery, ConflictQuery
from app.services import attribution as svc
from app.services.errors import NotFound
from app.services.export import MEDIA_TYPES, chunks
from app.services.guests import get_guest

router = APIRouter(prefix=API_V1, tags=["attribution"])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 422)}


def attribution_of(session, q: AttributionQuery) -> dict:
    """The one call the API, the page and the CLI share."""
    return svc.attribution(session, q.kind, q.value, q.at, q.since, q.until, q.host, q.limit)


@router.get("/attribution", responses={
    **ERRORS, 200: {"content": {"text/csv": {}, "application/x-ndjson": {}},
                    "description": "holders (json), or one row per holder (csv, ndjson)"}})
def get_attribution(params: Annotated[AttributionQuery, Query()], session: SessionDep,
                    _user: CurrentUser):
    """Every guest that held this MAC, disk, host device, graphics port (with host) or IP at
    ``at`` (or in since/until): host(s), the stay's interval, the proving event ids."""
    result = attribution_of(session, params)
    if params.format == "json":
        return result
    rows = result["holders"]
    if params.format == "csv":
        rows = [svc.flat_holder(r) for r in rows]
    return StreamingResponse(chunks(params.format, rows, svc.HOLDER_FIELDS),
                             media_type=MEDIA_TYPES[params.format],
                             headers={"Content-Disposition":
                                      f'attachment; filename="attribution.{params.format}"'})


@router.get("/conflicts", responses=ERRORS)
def get_conflicts(params: Annotated[ConflictQuery, Query()], session: SessionDep,
                  _user: CurrentUser):
    """Two running guests holding one MAC (same network) or one writable disk, newest first."""
    return svc.list_conflicts(session, params.since, params.until, params.kind, params.ongoing,
                              params.limit)


@router.get("/changes", responses=ERRORS)
def get_changes(params: Annotated[ChangeQuery, Query()], session: SessionDep,
                _user: CurrentUser):
    """Boots whose definition changed from the guest's previous boot, newest first."""
    return svc.list_changes(session, params.since, params.until, params.what, params.limit)


@router.get("/guests/{domain_uuid}/changes",
            responses={**ERRORS, 404: {"model": ErrorResponse}})
def get_guest_changes(domain_uuid: str, params: Annotated[ChangeQuery, Query()],
                      session: SessionDep, _user: CurrentUser):
    """This guest's definition changes between consecutive boots (normalised: what libvirt
    fills in at run time is ignored), newest first."""
    if get_guest(session, domain_uuid) is None:
        raise NotFound("guest", domain_uuid)
    return svc.list_changes(session, params.since, params.until, params.what, params.limit,
                            guest=domain_uuid)

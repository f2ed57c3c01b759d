"""GET /api/v1/guests, /api/v1/guests/{domain_uuid}, /api/v1/guests/{domain_uuid}/timeline,
/api/v1/guests/{domain_uuid}/density."""
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from app.api import API_V1
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.schemas import ErrorResponse
from app.schemas_query import GuestOut, GuestPage, GuestQuery, RangeQuery, Timeline
from app.services import guests as svc
from app.services.errors import Invalid, NotFound
from app.timeutil import parse_iso, utcnow

router = APIRouter(prefix=API_V1, tags=["guests"])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 404, 422)}


@router.get("/guests", response_model=GuestPage, responses=ERRORS)
def get_guests(params: Annotated[GuestQuery, Query()], session: SessionDep, _user: CurrentUser):
    """Guests by domain UUID, most recently active first."""
    return svc.list_guests(session, params)


@router.get("/guests/{domain_uuid}", response_model=GuestOut, responses=ERRORS)
def get_guest(domain_uuid: str, session: SessionDep, _user: CurrentUser):
    guest = svc.get_guest(session, domain_uuid)
    if guest is None:
        raise NotFound("guest", domain_uuid)
    return guest


@router.get("/guests/{domain_uuid}/timeline", response_model=Timeline, responses=ERRORS)
def get_timeline(domain_uuid: str, session: SessionDep, settings: SettingsDep,
                 _user: CurrentUser, q: Annotated[RangeQuery, Query()]):
    """Boots grouped prepare→release per host, across hosts, migrations linked; ``since`` /
    ``until`` (ISO, ``now`` or relative: ``-7d``) limit the events read, as the dashboard's
    time range does."""
    timeline = svc.guest_timeline(session, domain_uuid, settings.timeline_max_events,
                                  q.since, q.until)
    if timeline is None:
        raise NotFound("guest", domain_uuid)
    return timeline


@router.get("/guests/{domain_uuid}/density", responses=ERRORS)
def get_density(domain_uuid: str, session: SessionDep, _user: CurrentUser,
                q: Annotated[RangeQuery, Query()]) -> dict:
    """The guest's calls per host, time bucket and outcome, counted in the database: the
    guest page's picture when its range holds more than ``timeline_dense_calls`` calls.
    Without ``since`` the guest's whole activity (first call to now)."""
    guest = svc.get_guest(session, domain_uuid)
    if guest is None:
        raise NotFound("guest", domain_uuid)
    until = q.until or utcnow()
    since = q.since or min(parse_iso(guest["first_seen_at"]), until - timedelta(minutes=5))
    if since >= until:
        raise Invalid("since must be before until")
    return svc.guest_density(session, guest["domain_uuid"], since, until)

"""JSON twins of the dashboard's own services (same functions as the pages):

    GET /api/v1/overview        the overview page
    GET /api/v1/aborts/groups   the groups table of the aborts page (same filters as /aborts)
    GET /api/v1/histogram       calls per time bucket and outcome (the histogram of the events,
                                aborts and overview pages; ``scope=aborts`` for aborts only)
"""
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from app.api import API_V1
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.schemas_query import EventFilters, RangeQuery
from app.services.aborts import abort_groups
from app.services.histogram import histogram
from app.services.overview import overview

router = APIRouter(prefix=API_V1, tags=["dashboard"])


class AbortGroupQuery(EventFilters):
    by: Literal["reason", "host", "rule", "guest"] = "reason"


class OverviewQuery(RangeQuery):
    hours: Annotated[int, Field(ge=1, le=24 * 31)] = 24


@router.get("/overview")
def get_overview(_user: CurrentUser, session: SessionDep, settings: SettingsDep,
                 q: Annotated[OverviewQuery, Query()]) -> dict:
    """Hook calls over the last ``hours`` (or ``since``..``until``): counts by outcome,
    latest aborts, hosts needing care, seq gaps, chain problems, most-hit policy denials."""
    return overview(session, settings, now=q.until, hours=q.hours, since=q.since)


class HistogramQuery(EventFilters):
    scope: Literal["events", "aborts"] = "events"


@router.get("/histogram")
def get_histogram(_user: CurrentUser, session: SessionDep,
                  q: Annotated[HistogramQuery, Query()]) -> dict:
    """Calls matching the filters per time bucket and outcome, counted in the database;
    without ``since`` the last 24 h. The bucket size follows the range (at most 81 buckets)."""
    return histogram(session, EventFilters(**q.model_dump(exclude={"scope"})),
                     aborts=q.scope == "aborts")


@router.get("/aborts/groups")
def get_abort_groups(_user: CurrentUser, session: SessionDep,
                     q: Annotated[AbortGroupQuery, Query()]) -> dict:
    filters = EventFilters(**q.model_dump(exclude={"by"}))
    return abort_groups(session, filters, q.by)

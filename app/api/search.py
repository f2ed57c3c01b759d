"""GET /api/v1/search (the header's search box) and /api/v1/suggest (filter autocomplete)."""
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api import API_V1
from app.deps import CurrentUser, SessionDep
from app.schemas import ErrorResponse
from app.services import search as svc

router = APIRouter(prefix=API_V1, tags=["dashboard"])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 422)}
Text = Annotated[str, Query(max_length=256)]


@router.get("/search", responses=ERRORS)
def get_search(q: Text, session: SessionDep, _user: CurrentUser) -> dict:
    """What ``q`` names: an event id, a guest UUID or name, a host name (recognisers in
    order); ``jump`` is the URL of the match when there is exactly one."""
    return svc.search(session, q)


@router.get("/suggest", responses=ERRORS)
def get_suggest(field: Literal["host", "guest"], session: SessionDep, _user: CurrentUser,
                prefix: Text = "",
                limit: Annotated[int, Query(ge=1, le=50)] = svc.SUGGEST_LIMIT) -> dict:
    """Host or guest names starting with ``prefix``, for the filters' autocomplete."""
    return {"field": field, "prefix": prefix, "values": svc.suggest(session, field, prefix, limit)}

"""GET /openapi.json: the OpenAPI document, behind the same authentication as the API it
describes (a user token, or the dashboard's session cookie, so /docs works once logged in).
It lists every route and model of the audit API; a reader who cannot query cannot read it."""
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.deps import CurrentUser

router = APIRouter(include_in_schema=False)
OPENAPI_URL = "/openapi.json"


@router.get(OPENAPI_URL)
def openapi_document(request: Request, _user: CurrentUser) -> JSONResponse:
    return JSONResponse(request.app.openapi())

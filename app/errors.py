"""The one way errors are answered: ``handle_exception`` (datasette's model).

    DomainError (app/services/errors.py)   what a service refuses -> its status and code
    ApiError                               an HTTP-level refusal of a route or dependency
    HTTPException                          Starlette's own: unknown route (404), 405 ...
    RequestValidationError                 FastAPI's query/body validation (422)
    any other Exception                    500 internal_error, logged with the traceback

Every one becomes a Problem, answered in the API's shape ``{"error": {"code", "message",
"details"}}`` under /api/ (and /metrics), and as error.html for dashboard pages, where a
401 sends the browser to the login form instead.
"""
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from app.services import errors as domain
from app.web.render import render

log = logging.getLogger("hookaudit")

# Machine endpoints: they answer the JSON error shape; every other path is a dashboard page.
JSON_PREFIXES = ("/api/", "/metrics", "/openapi.json")
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
          413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error",
          429: "too_many_requests", 500: "internal_error", 503: "unavailable"}
DOMAIN_STATUS = {domain.NotFound: 404, domain.InvalidCursor: 422, domain.Invalid: 422,
                 domain.Conflict: 409, domain.Forbidden: 403, domain.TooLarge: 413}
PAGE_TITLES = {403: "Not allowed", 404: "Not found", 409: "Conflict", 413: "Too large",
               422: "Not understood", 500: "Something went wrong"}


class ApiError(Exception):
    """An HTTP-level refusal (authentication, throttling ...) with a status and a snake_case
    code; services raise DomainError instead."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers


@dataclass
class Problem:
    status: int
    code: str
    message: str
    details: Any = None
    headers: dict[str, str] | None = None
    title: str | None = None


def _field(loc) -> str:
    # ("query", "limit") -> "limit"; ("body", "events", 3, "seq") -> "events.3.seq"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def validation_details(errors) -> list[dict]:
    return [{"field": _field(e.get("loc", ())), "message": e.get("msg", "")} for e in errors]


def problem_of(exc: Exception) -> Problem:
    """The status, code, message and details of any exception a request can raise."""
    if isinstance(exc, domain.DomainError):
        title = f"No such {exc.what}" if isinstance(exc, domain.NotFound) else None
        return Problem(DOMAIN_STATUS.get(type(exc), 422), exc.code, exc.message, exc.details,
                       title=title)
    if isinstance(exc, ApiError):
        return Problem(exc.status, exc.code, exc.message, exc.details, exc.headers)
    if isinstance(exc, HTTPException):
        return Problem(exc.status_code, _CODES.get(exc.status_code, "http_error"),
                       str(exc.detail), headers=getattr(exc, "headers", None))
    if isinstance(exc, RequestValidationError):
        return Problem(422, "validation_error", "invalid request",
                       validation_details(exc.errors()))
    return Problem(500, "internal_error", "internal server error")


def error_response(p: Problem) -> JSONResponse:
    body = {"error": {"code": p.code, "message": p.message,
                      "details": jsonable_encoder(p.details)}}
    return JSONResponse(body, status_code=p.status, headers=p.headers)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(JSON_PREFIXES)


def _page(request: Request, p: Problem) -> Response:
    if p.status == 401:   # a page's "log in first": to the form, and back here afterwards
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        url = "/login?next=" + quote(target, safe="/")
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)
    title = p.title or PAGE_TITLES.get(p.status, "Error")
    return render(request, "error.html", {"status": p.status, "title": title,
                                          "message": p.message}, status=p.status)


async def handle_exception(request: Request, exc: Exception) -> Response:
    p = problem_of(exc)
    if p.status >= 500:
        log.exception("unhandled error on %s %s", request.method, request.url.path,
                      exc_info=exc)
    return error_response(p) if wants_json(request) else _page(request, p)


def install_error_handlers(app: FastAPI) -> None:
    for kind in (domain.DomainError, ApiError, HTTPException, RequestValidationError, Exception):
        app.add_exception_handler(kind, handle_exception)

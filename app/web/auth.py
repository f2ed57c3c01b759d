"""Login, logout and the dependencies every page uses: PageUser, AdminPage, CsrfChecked.

They raise ApiError like the API's dependencies; app/errors.py answers a page's 401 with a
redirect to /login (htmx gets ``HX-Redirect``) and a 403 with error.html. The JSON API
accepts the session cookie too, via ``session_user`` (one of ``app.state.user_loaders``).
"""
from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from app.deps import SessionDep
from app.errors import ApiError
from app.services import accounts
from app.services.accounts import UserIdentity
from app.web import session as websession
from app.web.render import render

router = APIRouter(include_in_schema=False)


def session_user(request: Request, session: Session) -> UserIdentity | None:
    """``app.state.user_loaders`` entry: the dashboard's session cookie, for the JSON API too.

    A cookie-authenticated request that changes state must carry the X-CSRF-Token header
    (a bearer-token client is not exposed to CSRF and needs none).
    """
    uid = websession.user_id(request)
    if uid is None:
        return None
    if request.method not in websession.SAFE_METHODS:
        sent = request.headers.get(websession.CSRF_HEADER, "")
        if not hmac.compare_digest(sent, websession.csrf_token(request)):
            raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token for a session request")
    return accounts.get_user(session, uid)


def page_user(request: Request, session: SessionDep) -> UserIdentity:
    uid = websession.user_id(request)
    user = accounts.get_user(session, uid) if uid is not None else None
    if user is None:
        raise ApiError(401, "unauthorized", "log in to see this page")
    request.state.web_user = user
    return user


PageUser = Annotated[UserIdentity, Depends(page_user)]


def admin_page(user: PageUser) -> UserIdentity:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "This needs the admin role. Ask an administrator.")
    return user


AdminPage = Annotated[UserIdentity, Depends(admin_page)]


async def require_csrf(request: Request) -> None:
    """Every form POST of the dashboard: 403 unless it echoes the session's CSRF token."""
    if not await websession.csrf_ok(request):
        raise ApiError(403, "csrf_failed", "The form was missing its security token (CSRF). "
                                           "Reload the page and try again.")


CsrfChecked = Depends(require_csrf)


def safe_next(value: str | None) -> str:
    """Only local paths: an open redirect after login would be a phishing aid."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login")
def login_form(request: Request, next_url: Annotated[str, Query(alias="next")] = "/"):
    return render(request, "login.html", {"next": safe_next(next_url), "error": None,
                                          "username": ""})


@router.post("/login", dependencies=[CsrfChecked])
def login(request: Request, session: SessionDep, username: Annotated[str, Form()],
          password: Annotated[str, Form()],
          next_url: Annotated[str, Form(alias="next")] = "/"):
    user = accounts.user_for_password(session, username, password)
    if user is None:
        return render(request, "login.html", {"next": safe_next(next_url), "username": username,
                                              "error": "Wrong user name or password."}, status=401)
    websession.replace(request, {"uid": user.id})
    return websession.persist(request, RedirectResponse(safe_next(next_url), status_code=303))


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request):
    websession.replace(request, {})
    return websession.persist(request, RedirectResponse("/login", status_code=303))

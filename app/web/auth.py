"""Login, logout and the dependencies every page uses: PageUser, AdminPage, CsrfChecked.

Pages redirect to /login when nobody is logged in (htmx gets ``HX-Redirect``); the JSON API
keeps answering 401 through ``app.deps.CurrentUser``, which also accepts the session cookie
via ``session_user`` (registered in ``app.state.user_loaders``).
"""
from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from app.deps import SessionDep
from app.errors import ApiError
from app.services import accounts
from app.services.accounts import UserIdentity
from app.web import session as websession
from app.web.render import render

router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    def __init__(self, next_url: str):
        self.next_url = next_url


class PageForbidden(Exception):
    def __init__(self, message: str):
        self.message = message


def session_user(request: Request, db: Session) -> UserIdentity | None:
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
    return accounts.get_user(db, uid)


def page_user(request: Request, db: SessionDep) -> UserIdentity:
    uid = websession.user_id(request)
    user = accounts.get_user(db, uid) if uid is not None else None
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    request.state.web_user = user
    return user


PageUser = Annotated[UserIdentity, Depends(page_user)]


def admin_page(user: PageUser) -> UserIdentity:
    if not user.is_admin:
        raise PageForbidden("This needs the admin role. Ask an administrator.")
    return user


AdminPage = Annotated[UserIdentity, Depends(admin_page)]


async def require_csrf(request: Request) -> None:
    """Every form POST of the dashboard: 403 unless it echoes the session's CSRF token."""
    if not await websession.csrf_ok(request):
        raise PageForbidden("The form was missing its security token (CSRF). Reload the page and try again.")


CsrfChecked = Depends(require_csrf)


def safe_next(value: str | None) -> str:
    """Only local paths: an open redirect after login would be a phishing aid."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login")
def login_form(request: Request, next: str = "/"):
    return render(request, "login.html", {"next": safe_next(next), "error": None, "username": ""})


@router.post("/login", dependencies=[CsrfChecked])
def login(request: Request, db: SessionDep, username: Annotated[str, Form()],
          password: Annotated[str, Form()], next: Annotated[str, Form()] = "/"):
    user = accounts.user_for_password(db, username, password)
    if user is None:
        return render(request, "login.html", {"next": safe_next(next), "username": username,
                                              "error": "Wrong user name or password."}, status=401)
    websession.replace(request, {"uid": user.id})
    return websession.persist(request, RedirectResponse(safe_next(next), status_code=303))


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request):
    websession.replace(request, {})
    return websession.persist(request, RedirectResponse("/login", status_code=303))


def login_redirect(request: Request, exc: LoginRequired):
    url = "/login?next=" + quote(exc.next_url, safe="/")
    if request.headers.get("HX-Request") == "true":
        from starlette.responses import Response
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def forbidden_page(request: Request, exc: PageForbidden):
    return render(request, "error.html", {"status": 403, "title": "Not allowed",
                                          "message": exc.message}, status=403)

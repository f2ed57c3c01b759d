"""Login, logout and the dependencies every page uses: PageUser, AdminPage, CsrfChecked.

They raise ApiError like the API's dependencies; app/errors.py answers a page's 401 with a
redirect to /login (htmx gets ``HX-Redirect``) and a 403 with error.html. The JSON API
accepts the session cookie too, via ``session_user`` (one of ``app.state.user_loaders``).
"""
from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from app.deps import DbDep, SessionDep, SettingsDep
from app.errors import ApiError
from app.services import accounts, login_throttle, web_sessions
from app.services.accounts import UserIdentity
from app.web import session as websession
from app.web.render import render

router = APIRouter(include_in_schema=False)
log = logging.getLogger("hookaudit.web")


def session_user(request: Request, session: Session) -> UserIdentity | None:
    """``app.state.user_loaders`` entry: the dashboard's session cookie, for the JSON API too.

    A cookie-authenticated request that changes state must carry the X-CSRF-Token header
    (a bearer-token client is not exposed to CSRF and needs none).
    """
    sid = websession.session_id(request)
    if sid is None:
        return None
    if request.method not in websession.SAFE_METHODS:
        sent = request.headers.get(websession.CSRF_HEADER, "")
        if not hmac.compare_digest(sent, websession.csrf_token(request)):
            raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token for a session request")
    return web_sessions.user_of(session, sid)


def page_user(request: Request, session: SessionDep) -> UserIdentity:
    sid = websession.session_id(request)
    user = web_sessions.user_of(session, sid) if sid is not None else None
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


def throttle_limits(settings) -> login_throttle.Limits:
    return login_throttle.Limits(settings.login_max_failures,
                                 settings.login_max_failures_per_client, settings.login_window_s)


@router.post("/login", dependencies=[CsrfChecked])
def login(request: Request, db: DbDep, settings: SettingsDep, username: Annotated[str, Form()],
          password: Annotated[str, Form()],
          next_url: Annotated[str, Form(alias="next")] = "/"):
    limits, client = throttle_limits(settings), request.client.host if request.client else None
    # Read, then verify outside any write transaction: a SQLite write lock held during the
    # password hash would stall ingest.
    with db.session() as session:
        wait = login_throttle.retry_after(session, limits, username, client)
        user = None if wait else accounts.user_for_password(session, username, password)
    if wait:
        log.warning("login throttled: user %r from %s, retry after %d s",
                    login_throttle.shown_name(username), client, wait)
        return _login_page(request, next_url, username, 429, headers={"Retry-After": str(wait)},
                           error=f"Too many failed logins. Try again in {wait} seconds.")
    with db.session(write=True) as session:
        if user is None:
            login_throttle.record_failure(session, limits, username, client)
        else:
            login_throttle.clear_user(session, username)
            sid = web_sessions.start(session, user.id, websession.max_age(request))
    if user is None:
        log.info("failed login: user %r from %s", login_throttle.shown_name(username), client)
        return _login_page(request, next_url, username, 401, error="Wrong user name or password.")
    websession.replace(request, {"sid": sid})
    return websession.persist(request, RedirectResponse(safe_next(next_url), status_code=303))


def _login_page(request, next_url, username, status, error, headers=None):
    return render(request, "login.html", {"next": safe_next(next_url), "username": username,
                                          "error": error}, status=status, headers=headers)


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, session: SessionDep):
    """Ends the session on the server too: the old cookie no longer logs anyone in."""
    sid = websession.session_id(request)
    if sid is not None:
        web_sessions.end(session, sid)
    websession.replace(request, {})
    return websession.persist(request, RedirectResponse("/login", status_code=303))

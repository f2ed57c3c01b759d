"""Dashboard sessions and CSRF: a signed, expiring cookie; a per-session CSRF token.

The cookie holds ``{"sid", "csrf", "iat"}`` signed with itsdangerous (HMAC, timestamped).
``sid`` is the id of a server-side session (app/services/web_sessions.py), which logout,
disabling the user or changing the password ends: the signature alone never logs anyone in.
``sid`` is absent before login: the anonymous session exists only to carry the CSRF token
of the login form.

Cookie flags: HttpOnly (no script reads it), SameSite=Lax (cross-site POSTs carry no cookie,
top-level links from an alert e-mail still work), Secure unless the operator turns it off for
plain-HTTP demos (``HOOKAUDIT_SESSION_COOKIE_SECURE=false``), Max-Age = the session lifetime.
Every state-changing request from a session must echo the CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``); bearer-token API calls need none.
"""
from __future__ import annotations

import hmac
import logging
import secrets
import time

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "hookaudit_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_MAX_AGE_S = 8 * 3600          # a working shift
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
log = logging.getLogger("hookaudit.web")


def _settings_value(request: Request, name: str, default):
    return getattr(request.app.state.settings, name, default)


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    secret = _settings_value(request, "secret_key", None)
    if not secret:
        # No configured secret: sessions last only as long as this process (logged once).
        if not getattr(state, "ephemeral_session_secret", None):
            log.warning("HOOKAUDIT_SECRET_KEY is not set: dashboard sessions end on restart")
            state.ephemeral_session_secret = secrets.token_urlsafe(32)
        secret = state.ephemeral_session_secret
    return URLSafeTimedSerializer(secret, salt="hookaudit.session")


def max_age(request: Request) -> int:
    return int(_settings_value(request, "session_max_age_s", DEFAULT_MAX_AGE_S))


def load(request: Request) -> dict:
    """The session dict of this request (cached); a fresh anonymous one when absent/invalid."""
    if "web_session" in request.scope:
        return request.scope["web_session"]
    data = None
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(request).loads(raw, max_age=max_age(request))
        except BadSignature:           # also SignatureExpired: an expired session is no session
            data = None
    if not isinstance(data, dict) or not data.get("csrf"):
        data = {"csrf": secrets.token_urlsafe(32), "iat": int(time.time())}
        request.scope["web_session_dirty"] = True
    request.scope["web_session"] = data
    return data


def replace(request: Request, data: dict) -> None:
    """Start a new session (login/logout): new CSRF token, so a fixated one is useless."""
    request.scope["web_session"] = {**data, "csrf": secrets.token_urlsafe(32), "iat": int(time.time())}
    request.scope["web_session_dirty"] = True


def persist(request: Request, response: Response) -> Response:
    """Write the cookie when this request created or replaced the session."""
    if request.scope.get("web_session_dirty"):
        value = _serializer(request).dumps(request.scope["web_session"])
        response.set_cookie(COOKIE, value, max_age=max_age(request), httponly=True,
                            samesite="lax", path="/",
                            secure=bool(_settings_value(request, "session_cookie_secure", True)))
    return response


def csrf_token(request: Request) -> str:
    return load(request)["csrf"]


def session_id(request: Request) -> str | None:
    """The server-side session id of a login, or None; only a cookie actually sent counts."""
    if COOKIE not in request.cookies:
        return None
    sid = load(request).get("sid")
    return sid if isinstance(sid, str) and sid else None


async def csrf_ok(request: Request) -> bool:
    """True when a state-changing request echoes this session's CSRF token."""
    if request.method in SAFE_METHODS:
        return True
    expected = load(request)["csrf"]
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = (await request.form()).get(CSRF_FIELD)
    return isinstance(sent, str) and hmac.compare_digest(sent, expected)

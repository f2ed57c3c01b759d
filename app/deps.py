"""Annotated dependency aliases: routes declare what they need, nothing more.

    refuse_nul   every route's first dependency (create_app): NUL in a parameter is a 422
    SessionDep   a database session in one transaction (committed after the route)
    SettingsDep  the app's Settings
    DbDep        the app's Database (engine + session factory), for streaming and ingest
    CurrentUser  a logged-in user (viewer or admin), else 401
    AdminUser    an admin, else 403
    HostDep      the host behind a host token (ingest, heartbeat, policy bundle), else 401

CurrentUser tries each callable of ``app.state.user_loaders`` in order; the first that
returns a user wins. create_app installs ``bearer_user`` (user API tokens); the dashboard adds
its session-cookie loader there, with the same signature ``(request, session) -> user | None``.
"""
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import Database
from app.errors import ApiError
from app.services import accounts
from app.services.accounts import HostIdentity, UserIdentity

bearer_scheme = HTTPBearer(auto_error=False, description="user API token or host token")


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_nul(request: Request) -> None:
    """Every route's first dependency: a NUL in a path or query parameter or a form field is
    a 422. No identifier holds one, and PostgreSQL text cannot (it would answer a 500 at the
    lookup). JSON bodies are the routes' own (ingest stores NUL escaped: docs/security.md)."""
    params = list(request.path_params.items()) + list(request.query_params.multi_items())
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        params += list((await request.form()).multi_items())   # parsed once, cached
    for name, value in params:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            raise ApiError(422, "validation_error", "NUL is not allowed in a parameter",
                           [{"field": name.replace("\x00", "\\x00"),
                             "message": "NUL is not allowed"}])


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as session:
        yield session


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def bearer_user(request: Request, session: Session) -> UserIdentity | None:
    """User loader: ``Authorization: Bearer <user API token>``."""
    token = bearer_token(request)
    return accounts.user_for_token(session, token) if token else None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def current_user(request: Request, session: SessionDep, _creds: Credentials) -> UserIdentity:
    for loader in request.app.state.user_loaders:
        user = loader(request, session)
        if user is not None:
            return user
    raise _unauthorized("log in or send Authorization: Bearer <API token>")


CurrentUser = Annotated[UserIdentity, Depends(current_user)]


def admin_user(user: CurrentUser) -> UserIdentity:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "this needs the admin role")
    return user


AdminUser = Annotated[UserIdentity, Depends(admin_user)]


def current_host(request: Request, db: DbDep, _creds: Credentials) -> HostIdentity:
    token = bearer_token(request)
    if token is None:
        raise _unauthorized("send Authorization: Bearer <host token>")
    with db.session() as session:   # short: ingest opens its own write transaction
        host = accounts.host_for_token(session, token)
    if host is None:
        raise _unauthorized("unknown or revoked host token")
    return host


HostDep = Annotated[HostIdentity, Depends(current_host)]

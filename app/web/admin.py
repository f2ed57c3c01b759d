"""Admin pages: hosts (add with the token shown once, revoke), users, API tokens.

Every route needs the admin role; every POST needs the CSRF token. A new token is shown in
the response to the POST that created it and nowhere else (only its sha256 is stored).
"""
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from app.deps import SessionDep
from app.services import accounts
from app.services.accounts import AccountError
from app.web.auth import AdminPage, CsrfChecked
from app.web.render import render

router = APIRouter(prefix="/admin", include_in_schema=False)
Text = Annotated[str, Form()]


def _hosts_page(request, session, **extra):
    ctx = {"hosts": accounts.host_accounts(session), "new_token": None, "new_host": None,
           "error": None, **extra}
    return render(request, "admin/hosts.html", ctx, status=400 if extra.get("error") else 200)


def _users_page(request, session, **extra):
    ctx = {"users": accounts.list_users(session), "tokens": accounts.list_tokens(session),
           "new_token": None, "error": None, **extra}
    return render(request, "admin/users.html", ctx, status=400 if extra.get("error") else 200)


@router.get("/hosts")
def hosts(request: Request, _admin: AdminPage, session: SessionDep):
    return _hosts_page(request, session)


@router.post("/hosts", dependencies=[CsrfChecked])
def add_host(request: Request, _admin: AdminPage, session: SessionDep, name: Text):
    try:
        token = accounts.add_host(session, name)
    except AccountError as exc:
        return _hosts_page(request, session, error=str(exc))
    return _hosts_page(request, session, new_token=token, new_host=name.strip())


@router.post("/hosts/revoke", dependencies=[CsrfChecked])
def revoke_host(request: Request, _admin: AdminPage, session: SessionDep, name: Text):
    try:
        accounts.revoke_host(session, name)
    except AccountError as exc:
        return _hosts_page(request, session, error=str(exc))
    return RedirectResponse("/admin/hosts", status_code=303)


@router.post("/hosts/rotate", dependencies=[CsrfChecked])
def rotate_host(request: Request, _admin: AdminPage, session: SessionDep, name: Text):
    """A new token for an existing (e.g. revoked) host; the old one stops working."""
    try:
        token = accounts.add_host(session, name, rotate=True)
    except AccountError as exc:
        return _hosts_page(request, session, error=str(exc))
    return _hosts_page(request, session, new_token=token, new_host=name)


@router.get("/users")
def users(request: Request, _admin: AdminPage, session: SessionDep):
    return _users_page(request, session)


@router.post("/users", dependencies=[CsrfChecked])
def add_user(request: Request, _admin: AdminPage, session: SessionDep, name: Text, role: Text,
             password: Text):
    try:
        accounts.add_user(session, name, role, password)
    except AccountError as exc:
        return _users_page(request, session, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/disable", dependencies=[CsrfChecked])
def disable_user(request: Request, admin: AdminPage, session: SessionDep, name: Text,
                 disabled: Annotated[bool, Form()] = True):
    try:
        accounts.set_user_disabled(session, name, disabled, admin.id)
    except AccountError as exc:
        return _users_page(request, session, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/tokens", dependencies=[CsrfChecked])
def create_token(request: Request, _admin: AdminPage, session: SessionDep, user: Text,
                 label: Annotated[str, Form()] = ""):
    try:
        token = accounts.create_user_token(session, user, label.strip() or None)
    except AccountError as exc:
        return _users_page(request, session, error=str(exc))
    return _users_page(request, session, new_token=token)


@router.post("/tokens/revoke", dependencies=[CsrfChecked])
def revoke_token(request: Request, _admin: AdminPage, session: SessionDep,
                 token_id: Annotated[int, Form()]):
    try:
        accounts.revoke_user_token(session, token_id)
    except AccountError as exc:
        return _users_page(request, session, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)

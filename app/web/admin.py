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
from app.web import admin_data
from app.web.auth import AdminPage, CsrfChecked
from app.web.render import render

router = APIRouter(prefix="/admin", include_in_schema=False)
Text = Annotated[str, Form()]


def _hosts_page(request, db, **extra):
    return render(request, "admin/hosts.html", {"hosts": admin_data.list_hosts(db), "new_token": None,
                                                "new_host": None, "error": None, **extra},
                  status=400 if extra.get("error") else 200)


def _users_page(request, db, **extra):
    ctx = {"users": admin_data.list_users(db), "tokens": admin_data.list_tokens(db),
           "new_token": None, "error": None, **extra}
    return render(request, "admin/users.html", ctx, status=400 if extra.get("error") else 200)


@router.get("/hosts")
def hosts(request: Request, _admin: AdminPage, db: SessionDep):
    return _hosts_page(request, db)


@router.post("/hosts", dependencies=[CsrfChecked])
def add_host(request: Request, _admin: AdminPage, db: SessionDep, name: Text):
    name = name.strip()
    try:
        if not name or len(name) > 255:
            raise AccountError("a host name is 1 to 255 characters")
        token = accounts.add_host(db, name)
    except AccountError as exc:
        return _hosts_page(request, db, error=str(exc))
    return _hosts_page(request, db, new_token=token, new_host=name)


@router.post("/hosts/revoke", dependencies=[CsrfChecked])
def revoke_host(request: Request, _admin: AdminPage, db: SessionDep, name: Text):
    try:
        accounts.revoke_host(db, name)
    except AccountError as exc:
        return _hosts_page(request, db, error=str(exc))
    return RedirectResponse("/admin/hosts", status_code=303)


@router.post("/hosts/rotate", dependencies=[CsrfChecked])
def rotate_host(request: Request, _admin: AdminPage, db: SessionDep, name: Text):
    """A new token for an existing (e.g. revoked) host; the old one stops working."""
    try:
        token = accounts.add_host(db, name, rotate=True)
    except AccountError as exc:
        return _hosts_page(request, db, error=str(exc))
    return _hosts_page(request, db, new_token=token, new_host=name)


@router.get("/users")
def users(request: Request, _admin: AdminPage, db: SessionDep):
    return _users_page(request, db)


@router.post("/users", dependencies=[CsrfChecked])
def add_user(request: Request, _admin: AdminPage, db: SessionDep, name: Text, role: Text,
             password: Text):
    try:
        if len(password) < 12:
            raise AccountError("passwords have at least 12 characters")
        accounts.add_user(db, name.strip(), role, password)
    except AccountError as exc:
        return _users_page(request, db, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/disable", dependencies=[CsrfChecked])
def disable_user(request: Request, admin: AdminPage, db: SessionDep, name: Text,
                 disabled: Annotated[bool, Form()] = True):
    try:
        admin_data.set_user_disabled(db, name, disabled, admin.id)
    except AccountError as exc:
        return _users_page(request, db, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/tokens", dependencies=[CsrfChecked])
def create_token(request: Request, _admin: AdminPage, db: SessionDep, user: Text,
                 label: Annotated[str, Form()] = ""):
    try:
        token = accounts.create_user_token(db, user, label.strip() or None)
    except AccountError as exc:
        return _users_page(request, db, error=str(exc))
    return _users_page(request, db, new_token=token)


@router.post("/tokens/revoke", dependencies=[CsrfChecked])
def revoke_token(request: Request, _admin: AdminPage, db: SessionDep,
                 token_id: Annotated[int, Form()]):
    try:
        admin_data.revoke_token(db, token_id)
    except AccountError as exc:
        return _users_page(request, db, error=str(exc))
    return RedirectResponse("/admin/users", status_code=303)

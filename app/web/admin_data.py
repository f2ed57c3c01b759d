"""Listings and small changes behind the admin pages (hosts, users, API tokens).

Creating hosts, users and tokens goes through ``app.services.accounts`` (shared with the
CLI); this module only adds what the admin pages list and revoke.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, Host, User
from app.services.accounts import AccountError
from app.timeutil import utcnow


def list_hosts(db: Session) -> list[dict]:
    return [{"name": h.name, "created_at": h.created_at, "revoked_at": h.revoked_at,
             "last_seen_at": h.last_seen_at, "shim_version": h.shim_version,
             "events_count": h.events_count or 0}
            for h in db.scalars(select(Host).order_by(Host.name))]


def list_users(db: Session) -> list[dict]:
    return [{"id": u.id, "name": u.name, "role": u.role, "created_at": u.created_at,
             "disabled_at": u.disabled_at, "has_password": bool(u.password_hash)}
            for u in db.scalars(select(User).order_by(User.name))]


def list_tokens(db: Session) -> list[dict]:
    rows = db.execute(select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
                      .order_by(ApiToken.created_at.desc()))
    return [{"id": t.id, "user": name, "label": t.label, "created_at": t.created_at,
             "last_used_at": t.last_used_at, "revoked_at": t.revoked_at} for t, name in rows]


def revoke_token(db: Session, token_id: int) -> None:
    token = db.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no token #{token_id}")
    token.revoked_at = token.revoked_at or utcnow()


def set_user_disabled(db: Session, name: str, disabled: bool, acting_user_id: int) -> None:
    user = db.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user {name!r}")
    if user.id == acting_user_id and disabled:
        raise AccountError("you cannot disable yourself")
    user.disabled_at = (user.disabled_at or utcnow()) if disabled else None

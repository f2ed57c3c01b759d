"""Hosts, users and their tokens: the rules (names, passwords), create, list, authenticate,
revoke. The one place for them: the CLI, the admin pages and the API dependencies call these."""
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import ApiToken, Host, User, WebSession
from app.schemas import Heartbeat
from app.security import (
    HOST_TOKEN_PREFIX,
    USER_TOKEN_PREFIX,
    hash_password,
    new_token,
    spend_a_verification,
    token_hash,
    verify_password,
)
from app.timeutil import utcnow

ROLES = ("viewer", "admin")
HOST_NAME_MAX = 255      # hosts.name is String(255)
PASSWORD_MIN = 12        # dashboard logins; API tokens carry 256 random bits instead


class AccountError(ValueError):
    """A name clash or an unknown name, with a message for the operator."""


@dataclass(frozen=True)
class HostIdentity:
    id: int
    name: str


@dataclass(frozen=True)
class UserIdentity:
    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def host_name(name: str) -> str:
    """The host name as stored (surrounding blanks dropped); AccountError when it cannot be."""
    name = name.strip()
    if not name or len(name) > HOST_NAME_MAX:
        raise AccountError(f"a host name is 1 to {HOST_NAME_MAX} characters")
    return name


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"passwords have at least {PASSWORD_MIN} characters")


def add_host(session: Session, name: str, rotate: bool = False) -> str:
    """Create host ``name`` (or give it a new token with ``rotate``); returns the token once."""
    name = host_name(name)
    host = session.scalar(select(Host).where(Host.name == name))
    if host is not None and not rotate:
        raise AccountError(f"host {name!r} exists (use --rotate for a new token)")
    if host is None:
        host = Host(name=name, created_at=utcnow(), chain_problems=0, events_count=0)
        session.add(host)
    token = new_token(HOST_TOKEN_PREFIX)
    host.token_hash, host.revoked_at = token_hash(token), None
    session.flush()
    return token


def revoke_host(session: Session, name: str) -> None:
    host = session.scalar(select(Host).where(Host.name == name))
    if host is None:
        raise AccountError(f"no host {name!r}")
    host.token_hash, host.revoked_at = None, utcnow()


def host_for_token(session: Session, token: str) -> HostIdentity | None:
    row = session.execute(select(Host.id, Host.name).where(
        Host.token_hash == token_hash(token), Host.revoked_at.is_(None))).first()
    return HostIdentity(row.id, row.name) if row else None


def record_heartbeat(session: Session, host_id: int, hb: Heartbeat) -> None:
    host = session.get(Host, host_id)
    now = utcnow()
    host.hb_at = host.last_seen_at = now
    host.shim_version = (hb.shim_version or "").replace("\x00", "\\x00") or host.shim_version
    host.hb_spool_depth, host.hb_oldest_unsent_age_s = hb.spool_depth, hb.oldest_unsent_age_s
    host.hb_parked, host.hb_last_seq = hb.parked, hb.last_seq
    host.hb_last_error = hb.last_error.replace("\x00", "\\x00") if hb.last_error else None
    if hb.chain_head is not None:   # the host's view of its chain, for verify
        from app.services.chain_heads import record_head

        record_head(session, host_id, hb.chain_head.seq, hb.chain_head.hash, now)
    from app.services import heartbeats

    heartbeats.record_on_host(host, hb)
    heartbeats.record(session, host_id, hb, now)


def add_user(session: Session, name: str, role: str, password: str | None) -> int:
    """A user; ``password`` None: API tokens only, no dashboard login."""
    name = name.strip()
    if not name:
        raise AccountError("a user name is required")
    if password is not None:
        check_password(password)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise AccountError(f"user {name!r} exists")
    user = User(name=name, role=role, created_at=utcnow(),
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user.id


def create_user_token(session: Session, user_name: str, label: str | None = None) -> str:
    user = session.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise AccountError(f"no user {user_name!r}")
    token = new_token(USER_TOKEN_PREFIX)
    session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), label=label,
                         created_at=utcnow()))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> UserIdentity | None:
    row = session.execute(
        select(User.id, User.name, User.role).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None),
               User.disabled_at.is_(None))).first()
    return UserIdentity(row.id, row.name, row.role) if row else None


def user_for_password(session: Session, name: str, password: str) -> UserIdentity | None:
    """For the dashboard's login form. Exactly one password verification whatever the name
    (an unknown user is checked against a dummy hash): the answer's timing is the same."""
    user = None if "\x00" in name else session.scalar(  # PostgreSQL text holds no NUL
        select(User).where(User.name == name, User.disabled_at.is_(None)))
    if user is None or not user.password_hash:
        spend_a_verification(password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    return UserIdentity(user.id, user.name, user.role)


def get_user(session: Session, user_id: int) -> UserIdentity | None:
    """For session-cookie logins: the user behind a stored user id, if still enabled."""
    user = session.get(User, user_id)
    if user is None or user.disabled_at is not None:
        return None
    return UserIdentity(user.id, user.name, user.role)


# The admin pages' listings and changes ----------------------------------------------------

def host_accounts(session: Session) -> list[dict]:
    return [{"name": h.name, "created_at": h.created_at, "revoked_at": h.revoked_at,
             "last_seen_at": h.last_seen_at, "shim_version": h.shim_version,
             "events_count": h.events_count or 0}
            for h in session.scalars(select(Host).order_by(Host.name))]


def list_users(session: Session) -> list[dict]:
    return [{"id": u.id, "name": u.name, "role": u.role, "created_at": u.created_at,
             "disabled_at": u.disabled_at, "has_password": bool(u.password_hash)}
            for u in session.scalars(select(User).order_by(User.name))]


def list_tokens(session: Session) -> list[dict]:
    rows = session.execute(select(ApiToken, User.name).join(User, User.id == ApiToken.user_id)
                      .order_by(ApiToken.created_at.desc()))
    return [{"id": t.id, "user": name, "label": t.label, "created_at": t.created_at,
             "last_used_at": t.last_used_at, "revoked_at": t.revoked_at} for t, name in rows]


def revoke_user_token(session: Session, token_id: int) -> None:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise AccountError(f"no token #{token_id}")
    token.revoked_at = token.revoked_at or utcnow()


def set_user_disabled(session: Session, name: str, disabled: bool, acting_user_id: int) -> None:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user {name!r}")
    if user.id == acting_user_id and disabled:
        raise AccountError("you cannot disable yourself")
    user.disabled_at = (user.disabled_at or utcnow()) if disabled else None
    if disabled:
        end_sessions(session, user.id)


def set_password(session: Session, name: str, password: str | None) -> None:
    """A new dashboard password (None: API tokens only); ends all the user's sessions."""
    if password is not None:
        check_password(password)
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise AccountError(f"no user {name!r}")
    user.password_hash = hash_password(password) if password else None
    end_sessions(session, user.id)


def end_sessions(session: Session, user_id: int) -> int:
    """End every dashboard session of a user at once (app/services/web_sessions.py)."""
    return session.execute(delete(WebSession).where(WebSession.user_id == user_id)).rowcount

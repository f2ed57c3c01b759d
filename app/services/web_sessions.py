"""Dashboard sessions kept in the database, so that they can be ended.

The session cookie (app/web/session.py) carries a random session id of 256 bits; the table
``web_sessions`` holds its sha256, the user and the expiry. Logout deletes the row; disabling
a user or changing a password deletes all of the user's rows: a captured cookie stops working
at once, in every app process, instead of living out its signed lifetime.
"""
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import User, WebSession
from app.security import new_token, token_hash
from app.services.accounts import UserIdentity
from app.timeutil import utcnow

SESSION_PREFIX = "has_"   # dashboard session id, like hah_/hau_ for tokens


def start(session: Session, user_id: int, max_age_s: int) -> str:
    """A new session for ``user_id``; returns its id (for the cookie, never stored)."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))  # prune
    sid = new_token(SESSION_PREFIX)
    session.add(WebSession(token_hash=token_hash(sid), user_id=user_id, created_at=now,
                           expires_at=now + timedelta(seconds=max_age_s)))
    session.flush()
    return sid


def user_of(session: Session, sid: str) -> UserIdentity | None:
    """The enabled user of a live session, else None (ended, expired or unknown)."""
    row = session.execute(
        select(User.id, User.name, User.role).join(WebSession, WebSession.user_id == User.id)
        .where(WebSession.token_hash == token_hash(sid), WebSession.expires_at > utcnow(),
               User.disabled_at.is_(None))).first()
    return UserIdentity(row.id, row.name, row.role) if row else None


def end(session: Session, sid: str) -> None:
    """Logout: this session only."""
    session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(sid)))

# Ending every session of a user (disabled, password changed) is part of those account
# changes: app/services/accounts.py ``end_sessions``.

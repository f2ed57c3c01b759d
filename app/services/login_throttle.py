"""Throttling of dashboard logins, per account and per client address.

Failed logins are counted in ``login_throttle`` (in the database, so every app process
counts the same failures) in a fixed window per key: the first failure opens a window of
``window_s`` seconds; once a key has ``limit`` failures in its window, logins for it are
refused (429, Retry-After = the rest of the window) without checking the password. Refused
attempts are not counted, so a lockout always ends when its window does: an attacker can
keep an account locked only by keeping on failing, and an administrator is never locked out
for longer than one window (or not at all after ``hookaudit users unlock``). A successful
login clears the account's count, not the client's.
"""
import hashlib
import math
import time
from dataclasses import dataclass

from sqlalchemy import case, delete, select
from sqlalchemy.orm import Session

from app.db import is_postgresql
from app.models import LoginThrottle

SHOWN_NAME_MAX = 64   # how much of an attempted user name goes into the log


@dataclass(frozen=True)
class Limits:
    per_user: int       # failures per account and window
    per_client: int     # failures per client address and window (offices share addresses)
    window_s: float


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\0{value}".encode("utf-8", "surrogatepass")).hexdigest()


def _keys(limits: Limits, user_name: str, client: str | None) -> dict[str, int]:
    keys = {_key("user", user_name): limits.per_user}
    if client:
        keys[_key("client", client)] = limits.per_client
    return keys


def retry_after(session: Session, limits: Limits, user_name: str, client: str | None,
                now: float | None = None) -> int | None:
    """Seconds until a login for ``user_name`` from ``client`` may be tried; None: now."""
    now = time.time() if now is None else now
    keys = _keys(limits, user_name, client)
    rows = session.execute(select(LoginThrottle).where(LoginThrottle.key.in_(list(keys))))
    waits = [row.window_start + limits.window_s - now for (row,) in rows
             if row.failures >= keys[row.key] and row.window_start + limits.window_s > now]
    return max(1, math.ceil(max(waits))) if waits else None


def record_failure(session: Session, limits: Limits, user_name: str, client: str | None,
                   now: float | None = None) -> None:
    """Count one failed login for the account and the client (atomic upserts)."""
    now = time.time() if now is None else now
    expired = now - limits.window_s
    session.execute(delete(LoginThrottle).where(LoginThrottle.window_start < expired))
    if is_postgresql(session.bind):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    for key in _keys(limits, user_name, client):
        stale = LoginThrottle.window_start < expired
        stmt = insert(LoginThrottle).values(key=key, failures=1, window_start=now)
        session.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={
            "failures": case((stale, 1), else_=LoginThrottle.failures + 1),
            "window_start": case((stale, now), else_=LoginThrottle.window_start)}))


def clear_user(session: Session, user_name: str) -> None:
    """A successful login, or an operator's ``hookaudit users unlock``."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == _key("user", user_name)))


def shown_name(name: str) -> str:
    """An attempted user name fit for a log line: cut, control characters escaped."""
    cut = name[:SHOWN_NAME_MAX] + ("..." if len(name) > SHOWN_NAME_MAX else "")
    return cut.encode("unicode_escape").decode("ascii")

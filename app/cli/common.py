"""What every command shares: the Settings and Database of its arguments, one way to fail,
and a signal handler's way to set a stop event."""
import sys
import threading

from app.config import Settings
from app.db import Database


def settings_of(args) -> Settings:
    """Settings from ``HOOKAUDIT_*`` like the server; ``--database-url`` overrides."""
    overrides = {"database_url": args.database_url} if args.database_url else {}
    return Settings(**overrides)


def database_of(args) -> Database:
    return Database(settings_of(args).database_url)


def fail(message: str) -> int:
    print(f"hookaudit: {message}", file=sys.stderr)
    return 1


def setter(stop: threading.Event):
    """A signal handler that sets ``stop``. Not stop.set() in the handler itself: it runs in
    the main thread, which may be inside stop.wait() holding the event's (non-reentrant)
    lock, and set() would wait for that lock forever (seen: one SIGTERM in 300 hung the
    facts worker). A thread sets it as soon as the lock is free."""
    return lambda *_: threading.Thread(target=stop.set, daemon=True).start()

"""What every command shares: the Settings and Database of its arguments, one way to fail."""
import sys

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

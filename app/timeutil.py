"""Time in one form: naive UTC datetimes in the database, ISO 8601 with Z on the wire."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)

"""Time in one form: naive UTC datetimes in the database and in memory, one wire form on the
API, in exports and on pages: ``2026-11-25T18:13:46.123456Z`` (always six digits).

    utcnow        now, naive UTC
    to_naive_utc  an aware datetime -> naive UTC (a naive one is UTC already)
    from_epoch    epoch seconds -> naive UTC
    iso           naive (or aware) datetime -> the wire form
    parse_iso     the wire form (Z or +00:00) -> naive UTC; ValueError for anything else
    as_naive_utc  a datetime or a wire string -> naive UTC (data from the store or from JSON)
"""
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(when: datetime | None) -> datetime | None:
    """ValueError (not OverflowError) when the instant falls outside year 1..9999 in UTC
    (9999-12-31T23:59:59-05:00): a query parameter at the calendar's edge is a 422."""
    if when is None or when.tzinfo is None:
        return when
    try:
        return when.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        raise ValueError("date out of range (year 1..9999 in UTC)") from None


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def iso(when: datetime | None) -> str | None:
    """The wire form; None stays None."""
    if when is None:
        return None
    if when.tzinfo is not None:
        when = to_naive_utc(when)
    # isoformat is several times cheaper than strftime (exports render two per row)
    return when.isoformat(timespec="microseconds") + "Z"


def parse_iso(value: str) -> datetime:
    """ISO 8601 UTC with a trailing Z (or +00:00) -> naive UTC datetime; ValueError otherwise."""
    when = datetime.fromisoformat(value)
    if when.tzinfo is None or when.utcoffset().total_seconds() != 0:
        raise ValueError("started_at must be UTC (…Z)")
    return when.replace(tzinfo=None)


def as_naive_utc(value: datetime | str) -> datetime:
    return to_naive_utc(value) if isinstance(value, datetime) else parse_iso(value)

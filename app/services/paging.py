"""Keyset pagination, one way for every list: rows ordered by (time, tie-breaker); a page is
``limit`` rows past the cursor of the previous page's last row.

    pack_cursor / unpack_cursor   the cursor codec: opaque, URL-safe "<iso time>|<key>"
    keyset_page                   one page of a SELECT and the next page's cursor
    contains_pattern              a LIKE pattern for "contains this text" (escapes \\ % _)
    is_glob / glob_pattern        a filter value with * or ? as a LIKE pattern (escaped)
    prefix_pattern                a LIKE pattern for "starts with this text" (same escapes)

The live tail keeps its own readable cursor (app/services/live.py).
"""
import base64
import re
from collections.abc import Callable

from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session

from app.services.errors import InvalidCursor
from app.timeutil import iso, parse_iso

LIKE_ESCAPE = "\\"
_LIKE_SPECIAL = re.compile(r"([\\%_])")


def pack_cursor(when, key) -> str:
    raw = f"{iso(when)}|{key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Row ids are BIGINT: a cursor key outside it cannot name a row (and PostgreSQL would
# refuse to compare with it: a 500); NUL cannot be in a PostgreSQL text key.
_ID_MIN, _ID_MAX = -2**63, 2**63 - 1


def unpack_cursor(cursor: str, key_type=str):
    """(naive UTC datetime, key) of a cursor from ``pack_cursor``; InvalidCursor otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, key = raw.partition("|")
        key = key_type(key)
        if key_type is int and not _ID_MIN <= key <= _ID_MAX or "\x00" in raw:
            raise ValueError(key)
        return parse_iso(when), key
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor() from None


def keyset_page(session: Session, stmt: Select, columns: tuple, p, item: Callable,
                key_type=str) -> dict:
    """One page of ``stmt`` ordered by ``columns`` (time, tie-breaker) as ``p`` says (limit,
    order, cursor): ``item`` of each row, and the next page's cursor (None at the end)."""
    ordered = tuple_(*columns)
    if p.cursor:
        key = tuple_(*unpack_cursor(p.cursor, key_type))
        stmt = stmt.where(ordered > key if p.order == "asc" else ordered < key)
    order_by = [c.asc() if p.order == "asc" else c.desc() for c in columns]
    rows = session.execute(stmt.order_by(*order_by).limit(p.limit + 1)).all()
    more = len(rows) > p.limit
    rows = rows[:p.limit]
    last = rows[-1]._mapping if more and rows else None
    return {"items": [item(r) for r in rows],
            "next_cursor": pack_cursor(last[columns[0]], last[columns[1]]) if last else None}


def contains_pattern(text: str) -> str:
    """``%text%`` with LIKE's wildcards in ``text`` matched literally (escape LIKE_ESCAPE)."""
    return "%" + _LIKE_SPECIAL.sub(r"\\\1", text) + "%"


GLOB_CHARS = ("*", "?")


def is_glob(value: str) -> bool:
    return any(c in value for c in GLOB_CHARS)


def glob_pattern(value: str) -> str:
    """The LIKE pattern (escape LIKE_ESCAPE) of a shell-style glob: ``*`` any text, ``?`` one
    character; LIKE's own ``%``, ``_`` and ``\\`` in ``value`` match literally."""
    escaped = _LIKE_SPECIAL.sub(r"\\\1", value)
    return escaped.replace("*", "%").replace("?", "_")


def prefix_pattern(text: str) -> str:
    """``text%`` with LIKE's wildcards in ``text`` matched literally (escape LIKE_ESCAPE)."""
    return _LIKE_SPECIAL.sub(r"\\\1", text) + "%"

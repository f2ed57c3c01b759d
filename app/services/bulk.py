"""The bulk-write layer under ingest: set membership with one parameter, INSERT ... ON
CONFLICT DO NOTHING on both engines, and multi-row inserts that go straight to psycopg's COPY
on PostgreSQL (bench/ingest.py measured why each exists)."""
import json
from json.encoder import c_make_encoder, encode_basestring
from operator import itemgetter

import orjson
from sqlalchemy import JSON, String, Text, any_, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app.db import is_postgresql
from app.services.ingest_validate import _plain

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# One reusable C encoder: JSONEncoder.encode builds a new one per call (~3x slower).
_C_ENCODE = c_make_encoder(None, _JSON.default, encode_basestring, None, ":", ",",
                           False, False, True)


def member_of(session: Session, column, values):
    """``column IN values``; on PostgreSQL ``column = ANY(...)`` with one parameter instead of
    one per value (an expanding IN of 500 ids is rendered anew for every batch, and psycopg
    re-parses the long statement). Strings without commas go as one text split by
    string_to_array (psycopg dumps a list of 500 strings in Python), others as an array."""
    values = list(values)
    if not is_postgresql(session.bind):
        return column.in_(values)
    if values and all(type(v) is str and v for v in values):
        text = ",".join(values)
        if text.count(",") == len(values) - 1:   # no value holds a comma: one text parameter
            return column == any_(func.string_to_array(bindparam(None, text, type_=Text), ","))
    # text[], not varchar(n)[]: a cast to varchar(n) would cut longer values to a match
    element = Text() if isinstance(column.type, String) else column.type
    return column == any_(bindparam(None, values, type_=ARRAY(element)))


def insert_ignore(session: Session, model, keys: list[str]):
    """INSERT ... ON CONFLICT DO NOTHING for either engine (a concurrent batch won the race)."""
    if is_postgresql(session.bind):
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(model).on_conflict_do_nothing(index_elements=keys)


def executemany(session: Session, table, rows: list[dict]) -> None:
    """A plain multi-row insert of ``rows`` (column -> value), see copy_rows."""
    names = list(rows[0])
    get = itemgetter(*names) if len(names) > 1 else (lambda r: (r[names[0]],))
    copy_rows(session, table, names, [list(get(r)) for r in rows])


def copy_rows(session: Session, table, names, rows: list[list], plain: list | None = None):
    """Insert ``rows`` (value lists in ``names`` order; JSON columns as Python values, encoded
    here in place; ``plain[i]``: row i's JSON values are known to be ``_plain``). On
    PostgreSQL straight to psycopg's COPY (one round trip, no per-row statement):
    SQLAlchemy's per-row parameter processing costs as much as the insert itself at ingest
    rates, and its multi-row VALUES form is re-parsed by psycopg per batch. Binary COPY where
    every column has a binary form below (half the client CPU of text COPY: no escaping,
    bytea not hex-encoded); JSON columns go as their compact text either way."""
    conn = session.connection()
    if not is_postgresql(conn):
        conn.execute(table.insert(), [dict(zip(names, r)) for r in rows])
        return
    names = tuple(names)
    types = _copy_types(conn.dialect, table, names)
    json_at = [i for i, c in enumerate(names) if isinstance(table.c[c].type, JSON)]
    columns = ", ".join(f'"{c}"' for c in names)
    binary = " (FORMAT BINARY)" if types else ""
    with conn.connection.cursor().copy(f"COPY {table.name} ({columns}) FROM STDIN{binary}") as copy:
        if types:
            copy.set_types(types)
        write, encode = copy.write_row, _json_text
        for k, row in enumerate(rows):
            known = plain is not None and plain[k]
            for i in json_at:
                if row[i] is not None:
                    row[i] = encode(row[i], known)
            write(row)


# DDL type (as the dialect compiles the column) -> the type whose binary COPY form it reads.
_BINARY_COPY = {"INTEGER": "int4", "BIGINT": "int8", "TEXT": "text", "BOOLEAN": "bool",
                "FLOAT": "float8", "DOUBLE PRECISION": "float8", "BYTEA": "bytea",
                "TIMESTAMP WITHOUT TIME ZONE": "timestamp", "JSON": "text"}
_COPY_TYPES: dict = {}


def _copy_types(dialect, table, names: tuple[str, ...]) -> list[str] | None:
    """Binary COPY types of ``names`` (VARCHAR(n) and JSON read text's binary form, which is
    the text itself); None when a column has no entry in _BINARY_COPY (text COPY then)."""
    key = (table.name, names)
    if key not in _COPY_TYPES:
        types = []
        for name in names:
            ddl = table.c[name].type.compile(dialect=dialect)
            types.append("text" if ddl.startswith("VARCHAR") else _BINARY_COPY.get(ddl))
        _COPY_TYPES[key] = None if None in types else types
    return _COPY_TYPES[key]


def _json_text(value, plain: bool = False) -> str:
    """Compact JSON text of a JSON column value (as _JSON.encode): orjson when the value holds
    only what both encoders write alike (``plain`` or ``_plain``), else json's C encoder."""
    if type(value) in (dict, list):
        try:
            if plain or _plain(value):
                return orjson.dumps(value).decode()
        except (RecursionError, orjson.JSONEncodeError):   # ingest refuses that depth
            pass
    return "".join(_C_ENCODE(value, 0))

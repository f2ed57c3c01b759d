"""Serialize event summaries as CSV or NDJSON, chunk by chunk (API streams and the CLI).

CSV is opened by spreadsheets, which run a cell starting with ``=``, ``+``, ``-``, ``@``, tab or
CR as a formula (``=HYPERLINK(...)``, ``=cmd|...``): the OWASP "CSV injection" advice is to
prefix such a cell with a single quote, so it shows as text. ``neutralise`` does that for
every text cell (hosts control object, op, reason, stderr...); numbers stay numbers. NDJSON
keeps every value exactly as stored: it is the export for programs and for auditors.
"""
import csv
import io
import json
from collections.abc import Iterable, Iterator

from app.services.events import EXPORT_FIELDS

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def ndjson_chunks(rows: Iterable[dict], per_chunk: int = 500) -> Iterator[str]:
    buf, encode = [], _ENCODER.encode
    for row in rows:
        buf.append(encode(row))
        if len(buf) >= per_chunk:
            yield "\n".join(buf) + "\n"
            buf = []
    if buf:
        yield "\n".join(buf) + "\n"


# Leading characters a spreadsheet reads as the start of a formula (OWASP CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A CSV cell that a spreadsheet shows as text: a formula-like string gets a leading '."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _safe_row(row: dict) -> dict:
    return {k: neutralise(v) for k, v in row.items()}


def csv_chunks(rows: Iterable[dict], per_chunk: int = 500,
               fields: list[str] = EXPORT_FIELDS) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, extrasaction="ignore")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow(_safe_row(row))
        if i % per_chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def chunks(fmt: str, rows: Iterable[dict], fields: list[str] = EXPORT_FIELDS) -> Iterator[str]:
    return csv_chunks(rows, fields=fields) if fmt == "csv" else ndjson_chunks(rows)

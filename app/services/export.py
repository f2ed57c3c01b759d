"""Serialize event summaries as CSV or NDJSON, chunk by chunk (API streams and the CLI)."""
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


def csv_chunks(rows: Iterable[dict], per_chunk: int = 500) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, EXPORT_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % per_chunk == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def chunks(fmt: str, rows: Iterable[dict]) -> Iterator[str]:
    return csv_chunks(rows) if fmt == "csv" else ndjson_chunks(rows)

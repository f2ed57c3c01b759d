"""``hookaudit export --follow`` (alias ``hookaudit follow``): every stored event once, in the
order the server stored them, as JSON lines for a SIEM shipper (Vector, Fluent Bit, Filebeat
read them without custom parsing), resuming after a restart from a cursor file.

The cursor is the events table's id (ingest order). Ordering by ``started_at`` would miss a
host that comes back after an outage with old events. On PostgreSQL ids are handed out
before commit, so a smaller id can become visible after a larger one: a gap in the ids is
not passed until it has stayed open for ``gap_grace_s`` (a rolled-back ingest leaves a gap
for good). Delivery is at least once: a line written just before a crash is written again
after it (each line carries ``event_id``, unique, for the shipper to deduplicate).
"""
import json
import os
import time
from collections.abc import Callable

from sqlalchemy import select

from app.models import Event, Host
from app.services.events import SUMMARY_COLUMNS, summary

GAP_GRACE_S = 10.0
BATCH = 1000


def deliverable(cursor: int, ids: list[int], gap_since: dict, now: float,
                grace_s: float = GAP_GRACE_S) -> int:
    """How many of ``ids`` (ascending, all > cursor) may be passed now. ``gap_since`` maps
    the first id after a gap to when it was first seen; updated in place."""
    expected, count = cursor + 1, 0
    for i in ids:
        if i != expected:
            first_seen = gap_since.setdefault(i, now)
            if now - first_seen < grace_s:
                break
        expected, count = i + 1, count + 1
    return count


def read_batch(db, cursor: int, limit: int = BATCH) -> list[tuple[int, dict]]:
    """(id, event summary) of the next stored events after ``cursor``, in id order."""
    with db.session() as s:
        rows = s.execute(select(*SUMMARY_COLUMNS).join(Host, Host.id == Event.host_id)
                         .where(Event.id > cursor).order_by(Event.id).limit(limit)).all()
    return [(row.id, summary(row)) for row in rows]


def load_cursor(path: str | None) -> int:
    if not path:
        return 0
    try:
        with open(path, encoding="utf-8") as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0
    except ValueError:
        raise ValueError(f"{path}: not a cursor written by hookaudit export --follow") from None


def save_cursor(path: str | None, cursor: int) -> None:
    """Atomically and durably: a cursor ahead of what was written would lose events."""
    if not path:
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{cursor}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def follow(db, out, cursor_file: str | None = None, once: bool = False,
           interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> int:
    """Write events as JSON lines to ``out`` from the cursor on; with ``once`` stop when
    caught up. Returns the last cursor."""
    cursor, gap_since = load_cursor(cursor_file), {}
    while True:
        batch = read_batch(db, cursor)
        n = deliverable(cursor, [i for i, _ in batch], gap_since, clock())
        if n:
            out.write("".join(json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n"
                              for _, ev in batch[:n]))
            out.flush()   # written before the cursor moves past it: at least once
            cursor = batch[n - 1][0]
            save_cursor(cursor_file, cursor)
        if n == len(batch) == BATCH:
            continue   # more waiting: no pause
        if once and n == len(batch):
            return cursor
        sleep(interval)

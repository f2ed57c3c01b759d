"""The spool's size bound (``max_bytes``): what an append does when the event does not fit.

``bytes`` counts the stored JSON of every row. Sent rows are deleted first, oldest first; if
that is not enough, the call's details are dropped and counted in an explicit
``kind: "overflow"`` marker event, which keeps the call's summary (``_MARKER_KEYS``).
Consecutive dropped calls grow the same marker while it is the unclaimed chain tail; once the
forwarder claimed it, a new one starts. Nothing is lost silently.

Imported only when an append would pass the bound; runs inside the spool's write
transaction (hookshim/spool.py ``Spool.append``).
"""

from hookshim import event as _event
from hookshim.spool_schema import _json, insert, seal

# Keys an overflow marker keeps from the call whose details it replaces.
_MARKER_KEYS = ("v", "host", "driver", "object", "op", "subop", "extra", "domain_uuid",
                "started_at", "duration_ms", "exit_code", "outcome", "reason", "shim")


def append_over_bound(db, ev, body, size, total, max_bytes):
    """Append the sealed ``ev`` (``body``, ``size`` bytes) to a spool holding ``total``
    bytes that it would take past ``max_bytes``. Returns the stored event: ``ev``, or the
    overflow marker that absorbed it."""
    total -= _make_room(db, total + size - max_bytes)
    if total + size <= max_bytes:
        insert(db, ev, body, size)
        return ev
    return _overflow(db, ev, max_bytes)


def _make_room(db, need):
    """Delete the oldest sent rows until ``need`` bytes are freed; returns bytes freed."""
    freed = 0
    rows = db.execute(
        "SELECT seq, bytes FROM events WHERE state = 'sent' ORDER BY seq").fetchall()
    doomed = []
    for seq, size in rows:
        if freed >= need:
            break
        doomed.append((seq,))
        freed += size
    db.executemany("DELETE FROM events WHERE seq = ?", doomed)
    db.execute("UPDATE chain SET total_bytes = total_bytes - ? WHERE id = 1", (freed,))
    return freed


def _overflow(db, ev, max_bytes):
    """Record ``ev`` (sealed as the next seq, not stored) only as a count in a marker."""
    last_seq, last_hash = ev["seq"] - 1, ev["prev_hash"]
    db.execute("UPDATE chain SET dropped = dropped + 1 WHERE id = 1")
    tail = db.execute(
        "SELECT seq, state, bytes, body FROM events WHERE seq = ?", (last_seq,)).fetchone()
    if tail and tail[1] == "ready":
        marker = _json().loads(tail[3])
        if marker.get("kind") == "overflow":
            return _grow_marker(db, marker, tail[2])
    marker = {k: ev.get(k) for k in _MARKER_KEYS}
    marker.update(kind="overflow", event_id=_event.new_event_id(), dropped=1,
                  warnings=["spool full (max_bytes=%d): details of this call dropped"
                            % max_bytes], scripts=[], redactions=0, policy=None,
                  xml=None, xml_sha256=None, xml_truncated=False, output_xml=None,
                  output_xml_sha256=None, stderr=None)
    body, size = seal(marker, last_seq + 1, last_hash)
    insert(db, marker, body, size)
    return marker


def _grow_marker(db, marker, old_size):
    # The marker is the chain tail and still unclaimed, so re-hashing it breaks nothing.
    marker["dropped"] += 1
    body, size = seal(marker, marker["seq"], marker["prev_hash"])
    db.execute("UPDATE events SET body = ?, bytes = ? WHERE seq = ?",
               (body, size, marker["seq"]))
    db.execute("UPDATE chain SET last_hash = ?, total_bytes = total_bytes + ?"
               " WHERE id = 1", (marker["hash"], size - old_size))
    return marker

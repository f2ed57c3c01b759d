"""The chain heads hosts report in their heartbeats, and what ``verify`` makes of them.

A host's forwarder reports the newest event the server acknowledged to it, as (seq, hash).
Those reports are the host's own view of its chain, kept outside the events table: a store
that no longer holds a reported head was cut short (the newest events deleted), and one that
holds another hash at that seq was rewritten, even when the rewrite is internally consistent
(every hash and link recomputed). The history is bounded per host: a row only when the head
moved, and past ``KEEP`` rows every other row of the older half goes, so the history thins
out with age instead of ending.
"""
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.models import Event, HostChainHead
from app.timeutil import iso

KEEP = 256   # rows per host; at a 30 s heartbeat the newest half spans an hour or more


def record_head(session: Session, host_id: int, seq: int, hash_: str, now: datetime) -> None:
    """Store one reported head (nothing when it did not move), then keep the history bounded."""
    heads = HostChainHead
    latest = session.execute(select(heads.seq, heads.hash).where(heads.host_id == host_id)
                             .order_by(heads.id.desc()).limit(1)).first()
    if latest is not None and tuple(latest) == (seq, hash_):
        return
    session.add(HostChainHead(host_id=host_id, seq=seq, hash=hash_, reported_at=now))
    session.flush()
    ids = list(session.scalars(select(heads.id).where(heads.host_id == host_id)
                               .order_by(heads.id.desc())))
    if len(ids) > KEEP:
        doomed = thin(ids, KEEP)
        session.execute(delete(heads).where(heads.id.in_(doomed)))


def thin(ids_newest_first: list[int], keep: int) -> list[int]:
    """Ids to drop from a history longer than ``keep``: every other one of the older half."""
    return ids_newest_first[keep // 2:][1::2]


def head_problems(session: Session, host_id: int, start_seq: int) -> list[dict]:
    """Reported heads (past retention's pruned prefix) the store contradicts, newest first:
    [{event_id, seq, problems}]. A missing head is reported once (the newest), a different
    hash at a reported seq once per seq."""
    heads = session.execute(select(HostChainHead.seq, HostChainHead.hash,
                                   HostChainHead.reported_at)
                            .where(HostChainHead.host_id == host_id, HostChainHead.seq > start_seq)
                            .order_by(HostChainHead.id.desc())).all()
    if not heads:
        return []
    stored = stored_at(session, host_id, {h.seq for h in heads})
    store_end = session.scalar(select(func.max(Event.seq)).where(Event.host_id == host_id)) or 0
    out, seen, missing_named = [], set(), False   # newest first: name one missing head
    for head in heads:
        if head.seq in seen:
            continue
        seen.add(head.seq)
        problem = head_problem(head, stored.get(head.seq, []), store_end)
        if problem is None or (problem["event_id"] is None and missing_named):
            continue
        missing_named = missing_named or problem["event_id"] is None
        out.append(problem)
    return out


def head_problem(head, stored: list[tuple[str, str]], store_end: int,
                 source: str = "the host reported") -> dict | None:
    """What the store says against one reported head (``source`` says who reported it: the
    host, or a signed checkpoint); ``stored``: [(event_id, hash)] at its seq. None when the
    store agrees."""
    said = f"{source} seq {head.seq} hash {head.hash[:12]}… at {iso(head.reported_at)}"
    if any(h == head.hash for _, h in stored):
        return None
    if not stored:
        where = (f"the store ends at seq {store_end}" if head.seq > store_end
                 else "that event is missing from the store")
        kind = "store is behind" if head.seq > store_end else "store lost a reported event"
        return {"event_id": None, "seq": head.seq, "problems": [f"{kind}: {said}; {where}"]}
    event_id, have = stored[0]
    return {"event_id": event_id, "seq": head.seq, "problems": [
        f"store diverges from the host: {said}; the stored event hashes to {have[:12]}…"]}


def stored_at(session: Session, host_id: int, seqs: set[int]) -> dict[int, list[tuple]]:
    rows = session.execute(select(Event.seq, Event.event_id, Event.hash)
                           .where(Event.host_id == host_id, Event.seq.in_(sorted(seqs))))
    out: dict[int, list[tuple]] = {}
    for seq, event_id, hash_ in rows:
        out.setdefault(seq, []).append((event_id, hash_))
    return out

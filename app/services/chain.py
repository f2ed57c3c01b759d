"""Pure helpers for per-host sequence gaps and hash-chain links (no database here)."""
from hookshim.event import GENESIS_HASH

SPOOL_RESET = "spool_reset"   # hookshim/spool_reset.py KIND


def declares_unknown_head(event: dict) -> bool:
    """A spool_reset event whose damaged spool's last hash could not be read: its prev_hash
    is GENESIS_HASH by declaration, so its link to seq-1 is not checked (not tampering)."""
    return event.get("kind") == SPOOL_RESET and event.get("prev_hash") == GENESIS_HASH


def declared_lost(open_gaps: list[tuple[int, int]], reset_seq: int):
    """Split open gaps at a spool reset: the ones before it are declared lost (the damaged
    spool held them; they will never arrive), the others stay open. (lost, still_open)."""
    lost = [g for g in open_gaps if g[1] < reset_seq]
    return lost, [g for g in open_gaps if g[1] >= reset_seq]


def new_gaps(prev_max: int, seqs: list[int]) -> list[tuple[int, int]]:
    """Gaps opened by seqs above the highest seq seen so far (``seqs`` sorted ascending)."""
    gaps, expected = [], prev_max + 1
    for seq in seqs:
        if seq < expected:
            continue
        if seq > expected:
            gaps.append((expected, seq - 1))
        expected = seq + 1
    return gaps


def fill_gap(gap: tuple[int, int], seqs: list[int]) -> list[tuple[int, int]]:
    """What is still missing of ``gap`` once ``seqs`` (sorted) arrived; [] = closed."""
    lo, hi = gap
    left, cursor = [], lo
    for seq in seqs:
        if seq < cursor or seq > hi:
            continue
        if seq > cursor:
            left.append((cursor, seq - 1))
        cursor = seq + 1
    if cursor <= hi:
        left.append((cursor, hi))
    return left


def link_problems(batch: dict[int, dict], stored: dict[int, list[dict]]) -> list[tuple[dict, str]]:
    """Broken links between events, as (event, problem) pairs.

    ``batch``: seq -> new raw event; ``stored``: seq -> [{event_id, seq, hash, prev_hash}] of
    events already stored near those seqs. Checks each new event against its predecessor, a
    stored successor against the new event (a late event closing a gap), and reused seqs.
    """
    problems = []
    for seq, event in batch.items():
        for other in stored.get(seq, ()):
            problems.append((event, f"seq {seq} already used by event {other['event_id']}"))
        prev = _hashes_at(seq - 1, batch, stored)
        if seq == 1:
            prev = [GENESIS_HASH]
        if declares_unknown_head(event):
            prev = []
        if prev and event.get("prev_hash") not in prev:
            problems.append((event, f"prev_hash does not link to the event with seq {seq - 1}"))
        if seq + 1 not in batch:
            for succ in stored.get(seq + 1, ()):
                if succ["prev_hash"] != event.get("hash"):
                    problems.append((succ, f"prev_hash does not link to the event with seq {seq}"))
    return problems


def _hashes_at(seq: int, batch: dict[int, dict], stored: dict[int, list[dict]]) -> list[str]:
    if seq in batch:
        return [batch[seq].get("hash")]
    return [row["hash"] for row in stored.get(seq, ())]


def neighbour_seqs(seqs: list[int]) -> set[int]:
    """The seqs whose stored events the link check needs: each seq and its two neighbours."""
    return {n for s in seqs for n in (s - 1, s, s + 1) if n >= 1}

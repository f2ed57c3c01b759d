"""Chain checkpoints: where a host's stored chain starts once retention pruned a prefix, MAC'd
with the server's secret key (plain sha256 when none is configured, which detects corruption
but not forgery). Retention writes them; ``verify`` starts each chain from one."""
import hashlib
import hmac

from sqlalchemy.orm import Session

from app.models import ChainCheckpoint, Host
from app.timeutil import utcnow
from hookshim.event import GENESIS_HASH


def checkpoint_mac(host: str, seq: int, hash_: str, secret: str | None) -> tuple[str, str]:
    msg = f"hookaudit-checkpoint\n{host}\n{seq}\n{hash_}".encode()
    if secret:
        return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest(), "hmac-sha256"
    return hashlib.sha256(msg).hexdigest(), "sha256"


def chain_start(session, host: Host, secret: str | None) -> tuple[int, str, list[str]]:
    """(seq, hash) a host's stored chain continues from, and problems with the checkpoint.

    ``verify`` calls this instead of assuming (0, GENESIS_HASH)."""
    cp = session.get(ChainCheckpoint, host.id)
    if cp is None:
        return 0, GENESIS_HASH, []
    expected, kind = checkpoint_mac(
        host.name, cp.seq, cp.hash, secret if cp.mac_kind != "sha256" else None
    )
    problems = []
    if kind != cp.mac_kind:
        problems.append(
            f"checkpoint at seq {cp.seq} is {cp.mac_kind}-signed but no secret key is set"
        )
    elif not hmac.compare_digest(expected, cp.mac):
        problems.append(
            f"checkpoint at seq {cp.seq} does not match its MAC "
            "(tampered, or the secret key changed)"
        )
    return cp.seq, cp.hash, problems


def save_checkpoint(s: Session, host: Host, seq: int, hash_: str, pruned: int, secret) -> None:
    mac, kind = checkpoint_mac(host.name, seq, hash_, secret)
    now = utcnow()
    cp = s.get(ChainCheckpoint, host.id)
    if cp is None:
        s.add(
            ChainCheckpoint(
                host_id=host.id,
                seq=seq,
                hash=hash_,
                mac=mac,
                mac_kind=kind,
                pruned_events=pruned,
                updated_at=now,
            )
        )
    else:
        cp.seq, cp.hash, cp.mac, cp.mac_kind, cp.updated_at = seq, hash_, mac, kind, now
        cp.pruned_events += pruned

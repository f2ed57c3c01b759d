"""Anchors outside the database: Ed25519 keys, signed checkpoints of every host's chain head,
signed auditor exports.

The hash chain proves that stored events are the ones the host sent, as long as someone keeps
a head to compare with. The database cannot be that someone: whoever can write the events can
write any head kept next to them. A signed checkpoint can: it is signed with a private key kept
in a file away from the database (OpenSSH format, so ``ssh-keygen -Y sign`` can use it too), it
is published wherever the operator keeps things a DB administrator cannot rewrite, and an
auditor checks it with the public key alone. Rewriting history after a checkpoint breaks the
hash at the checkpointed seq, and the rewriter cannot sign a new checkpoint.

    generate_key(path)  -> key id         private key PATH (0600), public key PATH.pub
    rotate_key(path)    -> (old, new)     old private key retired, PATH.pub keeps every key
    checkpoint(heads, key) -> document    {"type": "hookaudit-checkpoint", ..., "signature"}
    check_signature(doc_payload, signature, keys) -> problem | None
"""
import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

CHECKPOINT = "hookaudit-checkpoint"
ALG = "ed25519"


class AnchorKeyError(Exception):
    """A key file is missing, unreadable, of the wrong kind, or would be overwritten."""


def key_id(public: Ed25519PublicKey) -> str:
    """First 16 hex digits of sha256 over the raw public key: names the key in signatures."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _openssh_public(public: Ed25519PublicKey) -> str:
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} hookaudit:{key_id(public)}\n"


def _write_private(path: Path, private: Ed25519PrivateKey) -> None:
    data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption())
    # O_EXCL: never overwrite a key; 0600 from the start, not chmod after a readable write.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate_key(path: str) -> str:
    """A new Ed25519 key: private key at ``path`` (0600, OpenSSH format), its public key
    appended to ``path``.pub. Refuses to overwrite an existing private key."""
    target = Path(path)
    if target.exists():
        raise AnchorKeyError(f"{path} exists; use `hookaudit keys rotate` to replace it")
    private = Ed25519PrivateKey.generate()
    _write_private(target, private)
    with open(f"{path}.pub", "a", encoding="ascii") as f:
        f.write(_openssh_public(private.public_key()))
    return key_id(private.public_key())


def rotate_key(path: str) -> tuple[str, str]:
    """Retire the key at ``path`` (renamed to ``path``.<key id>.retired) and generate a new one.
    ``path``.pub keeps the old public keys, so signatures made before stay verifiable."""
    old = key_id(load_private(path).public_key())
    os.rename(path, f"{path}.{old}.retired")
    return old, generate_key(path)


def load_private(path: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_ssh_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise AnchorKeyError(f"cannot read the private key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AnchorKeyError(f"{path} is not an Ed25519 key")
    return key


def load_public_keys(path: str) -> dict[str, Ed25519PublicKey]:
    """Every ``ssh-ed25519`` line of an OpenSSH public key file, by key id."""
    keys = {}
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorKeyError(f"cannot read the public key file {path}: {exc}") from None
    for line in lines:
        if not line.startswith("ssh-ed25519 "):
            continue
        try:
            public = serialization.load_ssh_public_key(" ".join(line.split()[:2]).encode())
        except (ValueError, TypeError) as exc:
            raise AnchorKeyError(f"{path}: not an OpenSSH public key line: {exc}") from None
        keys[key_id(public)] = public
    if not keys:
        raise AnchorKeyError(f"{path} holds no ssh-ed25519 public key")
    return keys


def sign(private: Ed25519PrivateKey, payload: bytes) -> dict:
    return {"alg": ALG, "key_id": key_id(private.public_key()),
            "sig": base64.b64encode(private.sign(payload)).decode()}


def check_signature(payload: bytes, signature, keys: dict[str, Ed25519PublicKey]) -> str | None:
    """None when ``signature`` (as ``sign`` made it) is a valid signature of ``payload`` by
    one of ``keys``; else the problem, in words."""
    if not isinstance(signature, dict) or signature.get("alg") != ALG:
        return "not signed with Ed25519"
    public = keys.get(signature.get("key_id"))
    if public is None:
        return f"signed by key {signature.get('key_id')!r}, not one of the given public keys"
    try:
        public.verify(base64.b64decode(signature.get("sig") or "", validate=True), payload)
    except (InvalidSignature, ValueError):
        return "signature does not match (the signed content was changed)"
    return None


def _payload(doc: dict) -> bytes:
    """What a checkpoint's signature covers: its canonical JSON without the signature."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{CHECKPOINT}\n{text}".encode()


def checkpoint(heads: dict[str, dict], private: Ed25519PrivateKey,
               now: datetime | None = None) -> dict:
    """A signed checkpoint of ``heads`` (host -> {"seq", "hash"})."""
    created = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = {"type": CHECKPOINT, "version": 1, "created_at": created, "hosts": heads}
    doc["signature"] = sign(private, _payload(doc))
    return doc


def checkpoint_problems(doc, keys: dict[str, Ed25519PublicKey]) -> list[str]:
    """Problems with a checkpoint document itself (format, signature); [] = authentic."""
    if not isinstance(doc, dict) or doc.get("type") != CHECKPOINT:
        return ["not a hookaudit checkpoint"]
    problem = check_signature(_payload(doc), doc.get("signature"), keys)
    return [f"checkpoint {problem}"] if problem else []

"""Auditor export: a self-describing, hash-checked NDJSON file of a time range, verifiable
offline with ``hookaudit verify --export FILE`` (no database, no server).

    {"type":"header","format":"hookaudit-export","version":1,"since":...,"until":...}
    {"type":"event","event":{<the full wire event: canonical fields + hash + xml bodies>}}  ...
    {"type":"trailer","events":N,"hosts":{host:{first_seq,last_seq,first_prev_hash,last_hash}},
     "sha256":<hex of every byte before the trailer line>,"mac":<HMAC-SHA256 of that hex with the
     server's secret key, or null>,"mac_kind":"hmac-sha256"|null,
     "signature":{"alg":"ed25519","key_id","sig"}|null}   (``signed_payload``: digest + count)

Each event re-hashes to its ``hash`` and links to the previous one of its host (the chain of
hookshim/event.py); the trailer's digest makes truncation or an edited line detectable, and its
MAC (when the server has a secret key) makes a consistently rewritten file detectable too, to
whoever holds that secret. The Ed25519 signature (``--sign-key``, app/services/anchors.py)
does the same for anyone holding only the public key, and the server's secret cannot forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from datetime import datetime

from sqlalchemy import select

from app.models import Event, Host, XmlBlob
from app.timeutil import iso, to_naive_utc, utcnow
from hookshim.event import verify_event

FORMAT = "hookaudit-export"
BATCH = 1000


def _line(obj: dict) -> bytes:
    return (
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    )


def _mac(digest: str, secret: str | None) -> str | None:
    if not secret:
        return None
    return hmac.new(secret.encode(), f"{FORMAT}\n{digest}".encode(), hashlib.sha256).hexdigest()


def signed_payload(digest: str, events: int) -> bytes:
    """What an export's Ed25519 signature covers: the file digest and the event count."""
    return f"{FORMAT}\n{digest}\n{events}".encode()


def _blobs(s, digests: set) -> dict:
    if not digests:
        return {}
    rows = s.execute(select(XmlBlob.sha256, XmlBlob.data).where(XmlBlob.sha256.in_(digests)))
    return {sha: zlib.decompress(data).decode("utf-8", "surrogatepass") for sha, data in rows}


def _host_events(db, host_id: int, since: datetime, until: datetime):
    """The host's events in the range, in seq order, as full wire events (keyset batches)."""
    after = (-1, -1)
    while True:
        with db.session() as s:
            rows = s.execute(
                select(
                    Event.seq,
                    Event.id,
                    Event.hash,
                    Event.canonical,
                    Event.xml_blob,
                    Event.output_xml_blob,
                )
                .where(
                    Event.host_id == host_id,
                    Event.started_at >= since,
                    Event.started_at < until,
                    (Event.seq > after[0]) | ((Event.seq == after[0]) & (Event.id > after[1])),
                )
                .order_by(Event.seq, Event.id)
                .limit(BATCH)
            ).all()
            bodies = _blobs(s, {d for r in rows for d in (r.xml_blob, r.output_xml_blob) if d})
        for r in rows:
            event = json.loads(r.canonical)
            event.update(
                hash=r.hash, xml=bodies.get(r.xml_blob), output_xml=bodies.get(r.output_xml_blob)
            )
            yield event
        if len(rows) < BATCH:
            return
        after = (rows[-1].seq, rows[-1].id)


def export(
    db, out, since: datetime, until: datetime, host: str | None = None, secret: str | None = None,
    signer=None,
) -> dict:
    """Write the export to the binary file ``out``; returns the trailer. ``signer``: an
    Ed25519 private key (anchors.load_private) that signs the trailer."""
    since, until = (
        to_naive_utc(d) for d in (since, until)
    )
    digest, hosts, count = hashlib.sha256(), {}, 0

    def write(obj):
        data = _line(obj)
        digest.update(data)
        out.write(data)

    write(
        {
            "type": "header",
            "format": FORMAT,
            "version": 1,
            "since": iso(since),
            "until": iso(until),
            "host": host,
            "created_at": iso(utcnow()),
        }
    )
    with db.session() as s:
        q = select(Host.id, Host.name).order_by(Host.name)
        targets = s.execute(q.where(Host.name == host) if host else q).all()
    for host_id, name in targets:
        for event in _host_events(db, host_id, since, until):
            write({"type": "event", "event": event})
            count += 1
            h = hosts.setdefault(
                name, {"first_seq": event["seq"], "first_prev_hash": event["prev_hash"]}
            )
            h.update(last_seq=event["seq"], last_hash=event["hash"])
    hexdigest = digest.hexdigest()
    trailer = {
        "type": "trailer",
        "events": count,
        "hosts": hosts,
        "sha256": hexdigest,
        "mac": _mac(hexdigest, secret),
        "mac_kind": "hmac-sha256" if secret else None,
        "signature": None,
    }
    if signer is not None:
        from app.services.anchors import sign

        trailer["signature"] = sign(signer, signed_payload(hexdigest, count))
    out.write(_line(trailer))
    return trailer


class _Check:
    """State of one offline verification pass."""

    def __init__(self):
        self.problems, self.warnings = [], []
        self.hosts: dict[str, dict] = {}
        self.events = 0

    def event(self, lineno: int, ev: dict) -> None:
        self.events += 1
        name, seq = ev.get("host"), ev.get("seq")
        state = self.hosts.get(name)
        expected = None
        if state is None:
            self.hosts[name] = state = {"first_seq": seq, "first_prev_hash": ev.get("prev_hash")}
        elif isinstance(seq, int) and seq == state["last_seq"] + 1:
            expected = state["last_hash"]
        else:
            self.warnings.append(
                f"line {lineno}: host {name} jumps from seq {state['last_seq']} "
                f"to {seq} (events not in this export; chain not linked here)"
            )
        for p in verify_event(ev, expected):
            self.problems.append(f"line {lineno}: host {name} seq {seq}: {p}")
        state.update(last_seq=seq, last_hash=ev.get("hash"))

    def trailer(self, t: dict, digest: str, secret: str | None) -> bool:
        if t.get("sha256") != digest:
            self.problems.append(
                "file digest does not match the trailer (lines changed, added or removed)"
            )
        if t.get("events") != self.events:
            self.problems.append(
                f"trailer counts {t.get('events')} events, the file has {self.events}"
            )
        for name, h in (t.get("hosts") or {}).items():
            mine = self.hosts.get(name, {})
            if (mine.get("last_seq"), mine.get("last_hash")) != (
                h.get("last_seq"),
                h.get("last_hash"),
            ):
                self.problems.append(f"host {name}: last event differs from the trailer")
        if not t.get("mac") or not secret:
            return False
        if not hmac.compare_digest(_mac(digest, secret), t["mac"]):
            self.problems.append("trailer MAC does not match (not produced with this secret key)")
        return True


def verify_export(path, secret: str | None = None, public_keys: dict | None = None) -> dict:
    """Check an export file offline; ``ok`` is False on any problem. Without the secret the MAC
    is not checked (``mac_checked`` False); with ``public_keys`` (anchors.load_public_keys) the
    Ed25519 signature must be there and valid (``sig_checked``). Without either, a wholesale
    rewrite is only caught by comparing the trailer's per-host ``last_hash`` with the server's."""
    check, digest, trailer, lineno = _Check(), hashlib.sha256(), None, 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if trailer is not None:
                check.problems.append(f"line {lineno}: data after the trailer")
                break
            try:
                obj = json.loads(raw)
            except ValueError:
                check.problems.append(f"line {lineno}: not JSON")
                digest.update(raw)
                continue
            if obj.get("type") == "trailer":
                trailer = obj
                continue
            digest.update(raw)
            if lineno == 1 and (obj.get("type"), obj.get("format")) != ("header", FORMAT):
                check.problems.append("line 1: not a hookaudit export header")
            elif obj.get("type") == "event":
                check.event(lineno, obj.get("event") or {})
    mac_checked = sig_checked = False
    if trailer is None:
        check.problems.append("no trailer: the file is truncated")
    else:
        mac_checked = check.trailer(trailer, digest.hexdigest(), secret)
        sig_checked = _check_signature(check, trailer, digest.hexdigest(), public_keys)
    return {
        "ok": not check.problems,
        "events": check.events,
        "hosts": check.hosts,
        "problems": check.problems,
        "warnings": check.warnings,
        "signed": bool(trailer and trailer.get("mac")),
        "mac_checked": mac_checked,
        "sig_checked": sig_checked,
        "key_id": (trailer.get("signature") or {}).get("key_id") if trailer else None,
    }


def _check_signature(check: _Check, trailer: dict, digest: str, keys: dict | None) -> bool:
    """Check the trailer's Ed25519 signature when public keys are given; True when checked."""
    if not keys:
        return False
    if not trailer.get("signature"):
        check.problems.append("the export is not signed (no Ed25519 signature in the trailer)")
        return False
    from app.services.anchors import check_signature

    problem = check_signature(signed_payload(digest, check.events), trailer["signature"], keys)
    if problem:
        check.problems.append(f"export {problem}")
    return True

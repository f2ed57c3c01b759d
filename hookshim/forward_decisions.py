"""The forwarder's pure decisions: what a server answer means, how long to wait, what fits
in one request (hookshim/forward.py applies them to the spool; the table is there)."""
import json
import random
import time

MAX_RETRY_AFTER_S = 3600.0   # a server's Retry-After is honoured, within reason


def classify(status):
    """What an HTTP status means for a batch: ok | transient | too_large | invalid | refused."""
    if status == 200:
        return "ok"
    if status in (408, 429) or status >= 500:
        return "transient"
    if status == 413:
        return "too_large"
    if status == 422:
        return "invalid"
    return "refused"


def retry_after(headers):
    """Seconds from a Retry-After header (delta-seconds or HTTP date), None when absent/bad."""
    value = (headers or {}).get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class Backoff:
    """Exponential backoff with full jitter: sleep uniform(0, min(cap, base * 2**n)).

    Full jitter spreads a fleet's retries after a server outage, so a thousand hosts do not
    reconnect in lock-step the moment it comes back.
    """

    def __init__(self, base=0.5, cap=60.0, rng=random.random):
        self.base, self.cap, self.rng, self.attempt = base, cap, rng, 0

    def next(self):
        ceiling = min(self.cap, self.base * (2 ** min(self.attempt, 32)))
        self.attempt += 1
        return self.rng() * ceiling

    def reset(self):
        self.attempt = 0


class Attempt:
    """Result of one delivery attempt: kind (ok|transient|refused), optional wait, error."""

    __slots__ = ("kind", "wait", "error")

    def __init__(self, kind, wait=None, error=None):
        self.kind, self.wait, self.error = kind, wait, error

    def __repr__(self):
        return "Attempt(%s, wait=%s, error=%r)" % (self.kind, self.wait, self.error)


OK = Attempt("ok")


def invalid_indexes(resp, count):
    """{index: message} from a 422 body's error.details (the contract's shape)."""
    body = resp.json()
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    found = {}
    for d in details if isinstance(details, list) else ():
        i = d.get("index") if isinstance(d, dict) else None
        if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count:
            msg = "%s: %s" % (d.get("field", "?"), d.get("message", "invalid"))
            found[i] = found[i] + "; " + msg if i in found else msg
    return found


def encode_batch(events, max_bytes):
    """Encode events for POST, as many as fit in ``max_bytes`` (at least one).

    Returns (body bytes, number of events included).
    """
    parts, size = [], 12
    for ev in events:
        part = json.dumps(ev, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if parts and size + len(part) + 1 > max_bytes:
            break
        parts.append(part)
        size += len(part) + 1
    return b'{"events":[' + b",".join(parts) + b"]}", len(parts)

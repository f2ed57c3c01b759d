"""One HTTP POST of one alert body, and the retry schedule. stdlib urllib: no extra dependency,
and the worker thread is the only caller so a blocking client is what we want."""

from __future__ import annotations

import random
import urllib.error
import urllib.request
from dataclasses import dataclass

USER_AGENT = "hookaudit-alerts/1"


@dataclass(frozen=True)
class Result:
    ok: bool
    http_status: int | None
    error: str | None
    retryable: bool


def post(url: str, body: bytes, timeout_s: float) -> Result:
    """POST ``body`` as JSON. 2xx = delivered; 408/429/5xx and network errors are retryable;
    any other 4xx is the receiver refusing this body for good, so retrying would not help."""
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            resp.read(65536)
            return Result(True, resp.status, None, False)
    except urllib.error.HTTPError as exc:
        retry = exc.code in (408, 429) or exc.code >= 500
        return Result(False, exc.code, f"HTTP {exc.code}", retry)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # refused, DNS, timeout, TLS
        reason = getattr(exc, "reason", exc)
        return Result(False, None, f"{type(exc).__name__}: {reason}"[:300], True)


def backoff_s(attempt: int, base_s: float, max_s: float = 300.0) -> float:
    """Delay before attempt ``attempt + 1``: base * 2^(attempt-1), capped, +-10% jitter so
    several app workers retrying the same receiver do not hit it in lockstep."""
    delay = min(max_s, base_s * (2 ** (attempt - 1)))
    return delay * random.uniform(0.9, 1.1)

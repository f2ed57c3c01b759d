"""End-to-end lag: from a hook call (the event's ``started_at``, stamped by the shim) to the event
being visible through the API.

Two measures, both through ``GET /api/v1/events``:

- ``seen``: a probe polls the newest events every ``interval`` seconds and notes when each
  event_id first appears. An upper bound: it includes up to one poll interval of its own.
- ``received``: the server's ``received_at`` minus ``started_at`` for every event of the
  measured period (read once at the end). The event is visible from its ingest commit,
  milliseconds after ``received_at``.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime


def parse_ts(text: str) -> float:
    """ISO 8601 (``Z`` or offset, or naive = UTC) to a unix timestamp."""
    dt = datetime.fromisoformat(text)
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats
    return ordered[int(rank) - 1]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_s": percentile(values, 50), "p95_s": percentile(values, 95),
            "max_s": max(values) if values else None}


class Api:
    """The few GETs the probe needs, with the admin's API token."""

    def __init__(self, base: str, token: str):
        self.base, self.token = base.rstrip("/"), token

    def get(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        req = urllib.request.Request(f"{self.base}{path}?{query}",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def events(self, since: float, order: str = "asc", limit: int = 500):
        """Every event with started_at >= since, page by page."""
        cursor = None
        while True:
            page = self.get("/api/v1/events", since=iso(since), order=order, limit=limit,
                            cursor=cursor)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return


class LagProbe(threading.Thread):
    """Polls the API for new events; ``report()`` gives p50/p95 of both measures."""

    def __init__(self, base: str, token: str, interval: float = 1.0, window_s: float = 30.0):
        super().__init__(name="lag-probe", daemon=True)
        self.api = Api(base, token)
        self.interval, self.window_s = interval, window_s
        self.started = time.time()
        self.seen: dict[str, float] = {}       # event_id -> lag when first seen
        self.errors = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self.poll()
            except OSError:
                self.errors += 1

    def poll(self) -> None:
        now = time.time()
        since = max(self.started, now - self.window_s)
        for e in self.api.events(since, order="desc"):
            if e["event_id"] not in self.seen:
                self.seen[e["event_id"]] = now - parse_ts(e["started_at"])

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(10)

    def received_lags(self) -> list[float]:
        return [parse_ts(e["received_at"]) - parse_ts(e["started_at"])
                for e in self.api.events(self.started)]

    def result(self) -> dict:
        return {"seen": summary(list(self.seen.values())), "received": summary(self.received_lags()),
                "poll_interval_s": self.interval, "poll_errors": self.errors,
                "measured_from": iso(self.started), "measured_s": round(time.time() - self.started, 1)}

    def report(self) -> str:
        r = self.result()

        def fmt(s: dict) -> str:
            if not s["n"]:
                return "no events"
            return f"p50 {s['p50_s']:.2f} s, p95 {s['p95_s']:.2f} s, max {s['max_s']:.2f} s (n={s['n']})"

        return "\n".join([
            "end-to-end lag, hook call -> visible in the API:",
            f"  received_at - started_at: {fmt(r['received'])}",
            f"  first seen by polling every {self.interval:g} s: {fmt(r['seen'])}",
        ])


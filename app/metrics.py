"""Prometheus metrics: ``GET /metrics``.

Each app gets its own ``CollectorRegistry`` (not prometheus_client's global default registry),
so a test process that builds several apps never sees "Duplicated timeseries". Counters are fed
by the ingest listener (after commit) and by an ASGI middleware that times ``POST
/api/v1/ingest`` and counts rejected batches by status; per-host last-seen age is read from the
database at scrape time, so it is right whichever worker answers.

Several worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, wiped at
deploy) before the workers start; every worker then serves the sum over all workers.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from datetime import UTC, datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from app.services.events import KNOWN_DRIVERS, KNOWN_OPS

log = logging.getLogger("hookaudit.metrics")
OTHER = "other"   # the label of every op or driver outside the known sets
INGEST_PATH = "/api/v1/ingest"
# HTTP status of a refused ingest batch -> the reason label (the contract's error cases).
REJECT_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "wrong_host",
    413: "too_large",
    422: "invalid",
    429: "throttled",
    503: "unavailable",
}
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self, hosts_last_seen=None):
        """``hosts_last_seen``: callable returning [(host, last_seen datetime|None)], or None."""
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.events = Counter(
            "hookaudit_events_ingested",
            "Events stored by ingest",
            ["driver", "op", "outcome"],
            registry=r,
        )
        self.duplicates = Counter(
            "hookaudit_events_duplicate",
            "Events received again and ignored (idempotent retries)",
            registry=r,
        )
        self.ingest_latency = Histogram(
            "hookaudit_ingest_duration_seconds",
            "Time to answer POST /api/v1/ingest",
            ["status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "hookaudit_ingest_batch_events",
            "Events per accepted ingest batch (stored + duplicates)",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.rejected = Counter(
            "hookaudit_ingest_rejected_batches",
            "Ingest batches refused, by reason",
            ["reason"],
            registry=r,
        )
        self.gaps = Counter(
            "hookaudit_seq_gaps", "Sequence gaps detected at ingest", ["host"], registry=r
        )
        self.gap_events = Counter(
            "hookaudit_seq_gap_missing_events",
            "Events missing inside detected sequence gaps",
            ["host"],
            registry=r,
        )
        self.chain_failures = Counter(
            "hookaudit_chain_failures",
            "Events whose hash chain did not verify at ingest",
            ["host"],
            registry=r,
        )
        self.alerts = Counter(
            "hookaudit_alert_deliveries",
            "Alert delivery attempts and decisions, by result",
            ["result"],
            registry=r,
        )
        self._hosts_last_seen = hosts_last_seen
        self._scrape_collectors = []   # read at scrape time, in every worker (fleet_metrics)
        if hosts_last_seen is not None:
            r.register(_HostAgeCollector(hosts_last_seen))

    def add_scrape_collector(self, collector) -> None:
        self._scrape_collectors.append(collector)
        self.registry.register(collector)

    # --- feeds ---------------------------------------------------------------------------
    def listener(self, summary: dict) -> None:
        """Ingest listener: in-memory increments only, so it is safe to run synchronously."""
        host = summary.get("host") or "-"
        events = summary.get("events") or []
        # one labels() lookup per distinct (driver, op, outcome), not per event (~1 µs each)
        counts = collections.Counter(
            (_bounded(e.get("driver"), KNOWN_DRIVERS), _bounded(e.get("op"), KNOWN_OPS),
             e.get("outcome") or "-") for e in events
        )
        for labels, n in counts.items():
            self.events.labels(*labels).inc(n)
        dups = int(summary.get("duplicates") or 0)
        self.duplicates.inc(dups)
        self.batch_size.observe(len(events) + dups)
        for gap in summary.get("gaps") or []:
            self.gaps.labels(host).inc()
            self.gap_events.labels(host).inc(max(1, gap[-1] - gap[0] + 1))
        if summary.get("chain_problems"):
            self.chain_failures.labels(host).inc(len(summary["chain_problems"]))

    def ingest_answered(self, status: int, seconds: float) -> None:
        self.ingest_latency.labels(str(status)).observe(seconds)
        if status >= 400:
            reason = REJECT_REASONS.get(status, "server_error" if status >= 500 else "other")
            self.rejected.labels(reason).inc()

    def alert_result(self, result: str) -> None:
        self.alerts.labels(result).inc()

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self._multiprocess_registry())
        return generate_latest(self.registry)

    def _multiprocess_registry(self) -> CollectorRegistry:
        from prometheus_client import multiprocess

        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
        if self._hosts_last_seen is not None:
            reg.register(_HostAgeCollector(self._hosts_last_seen))
        for collector in self._scrape_collectors:
            reg.register(collector)
        return reg


def _bounded(value, known: frozenset) -> str:
    """``value`` as a label when it is in ``known``, else "other": a host token could send
    10,000 distinct ops, and every label value is a time series kept for ever."""
    return value if value in known else OTHER


class _HostAgeCollector:
    """Collected at scrape time from the hosts table: seconds since each host was last seen."""

    def __init__(self, hosts_last_seen):
        self.hosts_last_seen = hosts_last_seen

    def collect(self):
        gauge = GaugeMetricFamily(
            "hookaudit_host_last_seen_age_seconds",
            "Seconds since the host's last heartbeat or ingest",
            labels=["host"],
        )
        now = datetime.now(UTC)
        try:
            rows = self.hosts_last_seen()
        except Exception:  # a scrape must still answer with the counters when the DB is down
            log.exception("could not read hosts for metrics")
            rows = []
        for name, last_seen in rows:
            if last_seen is not None:
                if last_seen.tzinfo is None:
                    last_seen = last_seen.replace(tzinfo=UTC)
                gauge.add_metric([name], max(0.0, (now - last_seen).total_seconds()))
        yield gauge

    def describe(self):
        return []


class IngestMetricsMiddleware:
    """Pure ASGI middleware: times POST /api/v1/ingest and counts refused batches by status."""

    def __init__(self, app, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != INGEST_PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.ingest_answered(status[0], time.perf_counter() - started)


def hosts_last_seen(db) -> list[tuple[str, datetime | None]]:
    """(name, latest of heartbeat and ingest) of every host not revoked."""
    from sqlalchemy import select

    from app.models import Host

    with db.session() as s:
        rows = s.execute(
            select(Host.name, Host.last_seen_at, Host.hb_at).where(Host.revoked_at.is_(None))
        ).all()
    return [
        (name, max([t for t in (seen, hb) if t is not None], default=None))
        for name, seen, hb in rows
    ]

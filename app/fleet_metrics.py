"""Fleet metrics for the rollout dashboards and alerts (deploy/prometheus, deploy/grafana).

Read from the hosts table at scrape time, like the last-seen age in app/metrics.py, so every
worker answers the same: each host's backlog (spool depth, oldest unsent event, parked
events, from its last heartbeat, and how old that heartbeat is: a silent host's backlog
is not "as of now"), whether its last heartbeat reported a refused policy bundle, hosts per
shim version and the hosts behind the server's version. And one counter fed by ingest: aborted/killed/timed-out calls per host (the
"aborts by host" panel; ``hookaudit_events_ingested`` has no host label on purpose).
"""
from __future__ import annotations

import logging

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from app.models import ABORT_OUTCOMES
from app.timeutil import utcnow

log = logging.getLogger("hookaudit.metrics")


class FleetCollector:
    """Gauges built from ``hosts()`` -> [(name, shim_version, depth, oldest_age, parked,
    heartbeat_at, bundle_refused)] (the last two optional)."""

    def __init__(self, hosts, server_version: str):
        self.hosts, self.server_version = hosts, server_version

    def collect(self):
        from app.services.shim_release import is_behind

        try:
            rows = self.hosts()
        except Exception:  # a scrape must still answer when the database is down
            log.exception("could not read hosts for fleet metrics")
            rows = []
        gauges = _gauges()
        per_version: dict = {}
        now = utcnow()
        for name, version, depth, oldest, parked, *trust in rows:
            per_version[version or "unknown"] = per_version.get(version or "unknown", 0) + 1
            for key, value in (("depth", depth), ("oldest", oldest), ("parked", parked)):
                if value is not None:
                    gauges[key].add_metric([name], value)
            hb_at, refused = (trust + [None, None])[:2]
            if hb_at is not None:   # how old the three gauges above are
                gauges["hb_age"].add_metric([name], max(0.0, (now - hb_at).total_seconds()))
                gauges["refused"].add_metric([name], 1 if refused else 0)
        for version, count in sorted(per_version.items()):
            gauges["versions"].add_metric([version], count)
        gauges["server"].add_metric([self.server_version], 1)
        behind = sum(1 for r in rows if is_behind(r[1], self.server_version))
        gauges["behind"].add_metric([], behind)
        yield from gauges.values()

    def describe(self):
        return []


def _gauges() -> dict:
    g = GaugeMetricFamily
    return {
        "depth": g("hookaudit_host_spool_depth",
                   "Events waiting in the host's spool (last heartbeat)", labels=["host"]),
        "oldest": g("hookaudit_host_oldest_unsent_age_seconds",
                    "Age of the host's oldest unsent event (last heartbeat)", labels=["host"]),
        "parked": g("hookaudit_host_parked_events",
                    "Events the host parked after the server refused them", labels=["host"]),
        "hb_age": g("hookaudit_host_heartbeat_age_seconds",
                    "Seconds since the host's last heartbeat (the age of its backlog gauges)",
                    labels=["host"]),
        "refused": g("hookaudit_host_bundle_refused",
                     "1 when the host's last heartbeat reported a refused policy bundle",
                     labels=["host"]),
        "versions": g("hookaudit_shim_hosts", "Hosts per reported shim version",
                      labels=["version"]),
        "server": g("hookaudit_shim_server_version_info",
                    "The shim version this server ships (value 1)", labels=["version"]),
        "behind": g("hookaudit_shim_hosts_behind",
                    "Hosts on an older shim than the server ships (or none reported)"),
    }


def host_rows(db) -> list[tuple]:
    """(name, shim_version, spool depth, oldest unsent age, parked, heartbeat at, bundle
    refused) of hosts not revoked."""
    from sqlalchemy import select

    from app.models import Host

    with db.session() as s:
        return [tuple(r) for r in s.execute(
            select(Host.name, Host.shim_version, Host.hb_spool_depth,
                   Host.hb_oldest_unsent_age_s, Host.hb_parked, Host.hb_at,
                   Host.hb_bundle_refused)
            .where(Host.revoked_at.is_(None))).all()]


class AbortCounter:
    """Ingest listener: aborted, killed and timed-out calls per host and outcome."""

    def __init__(self, registry):
        self.counter = Counter("hookaudit_host_aborts", "Hook calls that refused or killed a "
                               "guest operation, per host", ["host", "outcome"],
                               registry=registry)

    def __call__(self, summary: dict) -> None:
        host = summary.get("host") or "-"
        for event in summary.get("events") or []:
            if event.get("outcome") in ABORT_OUTCOMES:
                self.counter.labels(host, event["outcome"]).inc()


def install(app, metrics) -> None:
    """Register the fleet gauges and the per-host abort counter on the app's metrics."""
    import hookshim

    metrics.add_scrape_collector(FleetCollector(lambda: host_rows(app.state.db),
                                                hookshim.__version__))
    app.state.ingest_listeners.append(AbortCounter(metrics.registry))

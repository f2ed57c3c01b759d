"""The application factory: ``create_app(settings) -> FastAPI``.

Adding an area = one module with a ``router`` + one line in ROUTERS. Nothing connects at
import time; the Database is built here and disposed when the app stops. The three
``app.state`` hook lists are the extension points (docs/architecture.md).
"""
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from app import alerts, facts_runner, fleet_metrics
from app.api import alerts as alerts_api
from app.api import attribution, downloads, events, guests, health, hosts, ingest, openapi, overview
from app.api import metrics as metrics_api
from app.api import policies, search
from app.config import Settings
from app.db import Database
from app.deps import bearer_user, refuse_nul
from app.errors import install_error_handlers
from app.metrics import IngestMetricsMiddleware, Metrics, hosts_last_seen
from app.schemas import IngestBatch
from app.web import admin, apidocs, auth, pages, pages_events, pages_facts, pages_guests
from app.web.render import STATIC_DIR

log = logging.getLogger("hookaudit")

# Every router of the app, in order: the JSON API (app/api/), then the dashboard's pages.
ROUTERS = [
    health.router, ingest.router, events.router, guests.router, hosts.router,
    policies.router, downloads.router, overview.router, search.router, alerts_api.router,
    metrics_api.router, openapi.router, attribution.router,
    auth.router, pages.router, pages_events.router, pages_guests.router, admin.router,
    apidocs.router, pages_facts.router,
]


@asynccontextmanager
async def lifespan(app: FastAPI):
    """Run the registered starters (alert worker, local forwarder); each returns a stopper."""
    stoppers = []
    for start in list(app.state.startup_hooks):
        stop = start(app)
        if callable(stop):
            stoppers.append(stop)
    _freeze_startup_objects()
    try:
        yield
    finally:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception:
                log.exception("stopping %r failed", stop)
        app.state.db.dispose()


_FROZEN = False


# Young-generation threshold (CPython's default 700): an ingest batch of 500 events allocates
# ~25 containers per event that live until the batch is stored, so at 700 the collector ran
# ~14 young and 1-2 middle collections per batch, all finding nothing (~5 µs per event,
# bench/ingest_cpu.py); at 20,000 hardly any. Few objects of the app form cycles.
GC_GEN0_THRESHOLD = 20_000


def _freeze_startup_objects() -> None:
    """Once per process: move the objects built at startup (modules, models, routes) out of
    the collector's view. Ingest allocates tens of thousands of containers per batch; without
    this every full collection re-scans the whole app (~20 % of ingest time, bench/ingest.py).
    And collect young objects less often (GC_GEN0_THRESHOLD)."""
    global _FROZEN
    if not _FROZEN:
        _FROZEN = True
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # /openapi.json, /docs and /redoc are our routes (app/api/openapi.py, app/web/apidocs.py):
    # behind authentication, and with pinned assets instead of FastAPI's CDN ones.
    app = FastAPI(title="hookaudit", version="1", lifespan=lifespan,
                  description="Audit API for libvirt hook calls recorded by hookshim.",
                  openapi_url=None, docs_url=None, redoc_url=None,
                  dependencies=[Depends(refuse_nul)])
    app.state.settings = settings
    app.state.db = Database(settings.database_url, settings.pool_size)
    app.state.metrics = Metrics(lambda: hosts_last_seen(app.state.db))
    app.state.alerts = alerts.build_worker(settings, app.state.db, app.state.metrics)
    # The extension points (docs/architecture.md), each a list of callables:
    app.state.ingest_listeners = [app.state.metrics.listener]   # (summary), after commit
    app.state.startup_hooks = []      # (app) -> optional stop callable, run by lifespan
    app.state.user_loaders = [bearer_user, auth.session_user]   # deps.current_user, in order
    fleet_metrics.install(app, app.state.metrics)   # deploy/prometheus and deploy/grafana need these
    if app.state.alerts.config.targets:
        app.state.ingest_listeners.append(app.state.alerts.listener)
        app.state.startup_hooks.append(_alert_worker_starter)
    facts_runner.install(app, settings)   # the facts pass behind ingest (docs/attribution.md)
    app.add_middleware(IngestMetricsMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)
    return app


def _alert_worker_starter(app: FastAPI):
    app.state.alerts.start()
    return app.state.alerts.stop


def _openapi(app: FastAPI) -> dict:
    """The generated schema plus the ingest body model (the handler reads that body raw)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        body = IngestBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, sub in body.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components["IngestBatch"] = body
        app.openapi_schema = schema
    return app.openapi_schema

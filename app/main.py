"""The application factory: ``create_app(settings) -> FastAPI``.

Adding an area = one module with a ``router`` + one line in ROUTERS. Nothing connects at
import time; the Database is built here and disposed when the app stops.
"""
import gc
import logging
from contextlib import asynccontextmanager
from importlib import import_module

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app import alerts, metrics
from app.services import retention  # noqa: F401  (its tables belong to Base.metadata)
from app.config import Settings
from app.db import Database
from app.deps import bearer_user
from app.errors import install_error_handlers
from app.schemas import IngestBatch
from app.web import install as install_dashboard

log = logging.getLogger("hookaudit")

# Modules whose `router` create_app includes, in order (API first, then HTML pages).
ROUTERS = [
    "app.api.health",
    "app.api.ingest",
    "app.api.events",
    "app.api.guests",
    "app.api.hosts",
    "app.api.policies",
    "app.api.downloads",
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
    app = FastAPI(title="hookaudit", version="1", lifespan=lifespan,
                  description="Audit API for libvirt hook calls recorded by hookshim.")
    app.state.settings = settings
    app.state.db = Database(settings.database_url, settings.pool_size)
    app.state.ingest_listeners = []   # contract §7: callables(summary), called after commit
    app.state.startup_hooks = []      # callables(app) -> optional stop callable
    app.state.user_loaders = [bearer_user]   # deps.current_user tries these in order
    install_error_handlers(app)
    for name in ROUTERS:
        app.include_router(import_module(name).router)
    install_dashboard(app)   # pages, session-cookie login, static files (app/web)
    metrics.install(app)   # operations (docs/operations.md): GET /metrics, ingest counters
    alerts.install(app)    # operations: webhook alerts worker, /api/v1/alerts
    app.openapi = lambda: _openapi(app)
    return app


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

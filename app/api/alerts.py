"""Admin endpoints for alerts (/api/v1/alerts): the delivery log (JSON twin of the
dashboard's alerts panel) and the "send test" action."""

from fastapi import APIRouter, Query, Request

from app.api import API_V1
from app.deps import AdminUser
from app.errors import ApiError

router = APIRouter(prefix=f"{API_V1}/alerts", tags=["alerts"])


def _worker(request: Request):
    return request.app.state.alerts


@router.get("/deliveries")
def list_deliveries(
    request: Request,
    _admin: AdminUser,
    limit: int = Query(50, ge=1, le=500),
    before: int | None = Query(None, ge=1, le=2**63 - 1, description="keyset: ids below this"),
):
    """Newest first. Each row is one alert to one target, with its attempts and last error."""
    worker = _worker(request)
    items = worker.store.list_deliveries(limit, before)
    return {
        "items": items,
        "next_before": items[-1]["id"] if len(items) == limit else None,
        "targets": [t.display for t in worker.config.targets],
        "enabled": bool(worker.config.targets),
    }


@router.post("/test", status_code=202)
def send_test(request: Request, admin: AdminUser):
    """Queue a test alert to every configured webhook; watch the delivery log for the result."""
    worker = _worker(request)
    if not worker.config.targets:
        raise ApiError(409, "no_webhooks", "no webhook configured (set HOOKAUDIT_WEBHOOK_URLS)")
    if not worker.running:
        raise ApiError(503, "alerts_stopped", "the alert worker is not running")
    ids = worker.send_test(requested_by=admin.name)
    return {"queued": ids, "targets": [t.display for t in worker.config.targets]}

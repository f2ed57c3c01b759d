"""GET /metrics: the Prometheus text format of ``app.state.metrics`` (app/metrics.py)."""
import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.errors import ApiError

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format. It names every host, so it needs the bearer token
    HOOKAUDIT_METRICS_TOKEN, unless the operator opts out with HOOKAUDIT_METRICS_PUBLIC."""
    settings = request.app.state.settings
    token = getattr(settings, "metrics_token", None)
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), str(token).encode()):
            raise ApiError(401, "unauthorized", "metrics token required",
                           headers={"WWW-Authenticate": "Bearer"})
    elif not getattr(settings, "metrics_public", False):
        raise ApiError(403, "metrics_not_configured",
                       "GET /metrics needs HOOKAUDIT_METRICS_TOKEN (scrapers send it as a "
                       "bearer token), or HOOKAUDIT_METRICS_PUBLIC=true to serve it to anyone")
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

"""GET /metrics: the Prometheus text format of ``app.state.metrics`` (app/metrics.py)."""
import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.errors import ApiError

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format. Protected by a bearer token when HOOKAUDIT_METRICS_TOKEN is set."""
    token = getattr(request.app.state.settings, "metrics_token", None)
    if token:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), str(token).encode()):
            raise ApiError(401, "unauthorized", "metrics token required")
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

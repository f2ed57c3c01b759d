"""GET /healthz: the one anonymous endpoint (liveness plus a database round trip)."""
from fastapi import APIRouter
from sqlalchemy import text

from app.deps import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(session: SessionDep) -> dict:
    """200 {"ok": true} when the app can reach its database."""
    session.execute(text("SELECT 1"))
    return {"ok": True}

"""JSON twin of the overview page: GET /api/v1/overview (same service function)."""
from fastapi import APIRouter

from app.deps import CurrentUser, SessionDep, SettingsDep
from app.services.overview import overview

router = APIRouter(prefix="/api/v1", tags=["dashboard"])


@router.get("/overview")
def get_overview(_user: CurrentUser, db: SessionDep, settings: SettingsDep, hours: int = 24) -> dict:
    """Last ``hours`` of hook calls: counts by outcome, latest aborts, hosts needing care,
    seq gaps, chain problems, most-hit policy denials."""
    return overview(db, settings, hours=max(1, min(hours, 24 * 31)))

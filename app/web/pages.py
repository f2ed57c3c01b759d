"""Read-only pages. Each route: dependencies -> one service call -> render.

The JSON twin of every page is the /api/v1 route over the same service function.
"""
from fastapi import APIRouter, Request

from app.deps import SessionDep, SettingsDep
from app.services.overview import overview
from app.web.auth import PageUser
from app.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def overview_page(request: Request, _user: PageUser, db: SessionDep, settings: SettingsDep):
    return render(request, "overview.html", {"ov": overview(db, settings)})

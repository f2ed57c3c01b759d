"""Read-only pages: overview, hosts, policies. Each route: dependencies -> service -> render.

The JSON twin of every page is the /api/v1 route over the same service function.
"""
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from app.deps import SessionDep, SettingsDep
from app.services.hosts import list_hosts
from app.services.shim_release import fleet_versions, server_version
from app.services.overview import overview
from app.web.auth import PageUser
from app.web.render import STATIC_DIR, render

router = APIRouter(include_in_schema=False)


@router.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says: answer, not a console 404."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})


@router.get("/")
def overview_page(request: Request, _user: PageUser, session: SessionDep, settings: SettingsDep):
    return render(request, "overview.html", {"ov": overview(session, settings)})


@router.get("/hosts")
def hosts_page(request: Request, _user: PageUser, session: SessionDep, settings: SettingsDep,
               behind: bool = False):
    """Every host (``behind``: only those on an older shim), with the fleet's shim versions."""
    return render(request, "hosts.html", {"hosts": list_hosts(session, settings, behind),
                                          "behind": behind,
                                          "fleet": fleet_versions(session, server_version())})


@router.get("/policies")
def policies_page(request: Request, _user: PageUser, session: SessionDep, settings: SettingsDep):
    from app.web.policies_view import policies_context
    return render(request, "policies.html", policies_context(request, session, settings))

"""Read-only pages: overview, hosts, policies. Each route: dependencies -> service -> render.

The JSON twin of every page is the /api/v1 route over the same service function.
"""
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from app.deps import SessionDep, SettingsDep
from app.schemas_query import HostRange
from app.services.hosts import list_hosts
from app.services.shim_release import fleet_versions, server_version
from app.services.overview import overview
from app.web.auth import PageUser
from app.timeutil import iso, utcnow
from app.web.params import parse
from app.web.render import STATIC_DIR, render

router = APIRouter(include_in_schema=False)
# The host page's range links: label -> hours back from now.
HOST_PRESETS = {"1 h": 1, "24 h": 24, "7 d": 24 * 7, "30 d": 24 * 30}


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


@router.get("/hosts/{name}")
def host_page(request: Request, name: str, _user: PageUser, session: SessionDep,
              settings: SettingsDep):
    """One host over a range: health, outages, backlog and lag charts, libvirt, aborts."""
    from app.services.host_page import host_page as build
    from app.web.host_svg import host_charts_svg

    params, notice = parse(request, HostRange)
    host = build(session, settings, name, params.since, params.until)
    svg = host_charts_svg(host["series"], host["outages"], host["range"]["since"],
                          host["range"]["until"], host["name"])
    now = utcnow()
    presets = [(label, iso(now - timedelta(hours=h))) for label, h in HOST_PRESETS.items()]
    return render(request, "host.html", {"host": host, "svg": svg, "notice": notice,
                                         "presets": presets})


@router.get("/policies")
def policies_page(request: Request, _user: PageUser, session: SessionDep, settings: SettingsDep):
    from app.web.policies_view import policies_context
    return render(request, "policies.html", policies_context(request, session, settings))

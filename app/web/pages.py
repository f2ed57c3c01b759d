"""Read-only pages: overview, hosts, policies. Each route: dependencies -> service -> render.

The JSON twin of every page is the /api/v1 route over the same service function.
"""
from datetime import timedelta

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, RedirectResponse

from app.deps import SessionDep, SettingsDep
from app.schemas_query import EventFilters, HostRange
from app.services.histogram import histogram, totals_of
from app.services.hosts import list_hosts
from app.services.shim_release import fleet_versions, server_version
from app.services.overview import overview
from app.services.search import search
from app.timeutil import utcnow
from app.web.auth import PageUser
from app.timeutil import iso, utcnow
from app.web.params import parse, qs
from app.web.ranges import histogram_context, range_state, with_range
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
    """Counts, denials and the histogram over the page's range (default: the last 24 h)."""
    f, error = parse(request, EventFilters)   # only the range is used
    f, tr = with_range(request, f)
    until = f.until or utcnow()
    state = range_state({}, tr)
    since = f.since or until - timedelta(hours=24)
    h = histogram(session, EventFilters(since=since, until=until))
    # the counts are the histogram's totals when it covers the same range (it widens an
    # empty one to a second): the range's rollup rows are read once, not twice
    counts = totals_of(h) if since < until else None
    ov = overview(session, settings, now=until, since=since, counts=counts)
    return render(request, "overview.html", {
        "ov": ov, "error": error, "state": state, "qs": qs, "histogram_qs": qs(state),
        **histogram_context(h, "/", state, tr)})


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


@router.get("/policies/rules/{rule_id}")
def rule_page(request: Request, rule_id: str, _user: PageUser, session: SessionDep,
              settings: SettingsDep):
    """One rule: definition and hits over the page's range (JSON twin:
    /api/v1/policies/rules/{rule_id})."""
    from app.policy.rule_page import rule_detail
    from app.policy.service import cache_for
    f, error = parse(request, EventFilters)   # only the range is used
    f, tr = with_range(request, f)
    rule = rule_detail(session, cache_for(settings), rule_id, f.since, f.until)
    h = rule["history"] | {"aborts_only": False}
    state = range_state({}, tr)
    return render(request, "rule.html", {
        "rule": rule, "error": error, "state": state, "qs": qs,
        **histogram_context(h, f"/policies/rules/{quote(rule_id, safe='')}", state, tr),
        "histogram_qs": qs(state), "histogram_api": f"/api/v1/policies/rules/"
                                                     f"{quote(rule_id, safe='')}"})


@router.get("/search")
def search_page(request: Request, _user: PageUser, session: SessionDep,
                q: Annotated[str, Query(max_length=256)] = ""):
    """The header's search box: straight to the one match, else the list (JSON twin:
    /api/v1/search)."""
    result = search(session, q)
    if result["jump"]:
        return RedirectResponse(result["jump"], status_code=303)
    return render(request, "search.html", {"result": result})

"""Read-only pages: overview, hosts, policies. Each route: dependencies -> service -> render.

The JSON twin of every page is the /api/v1 route over the same service function.
"""
from datetime import timedelta

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from app.deps import SessionDep, SettingsDep
from app.schemas_query import EventFilters
from app.services.histogram import histogram
from app.services.hosts import list_hosts
from app.services.shim_release import fleet_versions, server_version
from app.services.overview import overview
from app.services.search import search
from app.timeutil import utcnow
from app.web.auth import PageUser
from app.web.params import parse, qs
from app.web.ranges import histogram_context, range_state, with_range
from app.web.render import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def overview_page(request: Request, _user: PageUser, session: SessionDep, settings: SettingsDep):
    """Counts, denials and the histogram over the page's range (default: the last 24 h)."""
    f, error = parse(request, EventFilters)   # only the range is used
    f, tr = with_range(request, f)
    until = f.until or utcnow()
    state = range_state({}, tr)
    h = histogram(session, EventFilters(since=f.since, until=until))
    ov = overview(session, settings, now=until, since=f.since or until - timedelta(hours=24))
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

"""Pages of issue 17: who held it (/attribution), definitions changed (/changes), conflicts
(/conflicts). JSON twins: /api/v1/attribution, /api/v1/changes, /api/v1/conflicts, over the
same service functions (app/services/attribution.py)."""
from fastapi import APIRouter, Request
from pydantic import ValidationError

from app.deps import SessionDep
from app.schemas_facts import LOOKUP_KINDS, AttributionQuery, ChangeQuery, ConflictQuery
from app.services import attribution as svc
from app.services.errors import Invalid
from app.web.auth import PageUser
from app.web.params import parse, qs, query_dict
from app.web.render import render

router = APIRouter(include_in_schema=False)
ATTRIBUTION_FIELDS = (*LOOKUP_KINDS, "host", "at", "since", "until")


def _errors(exc: ValidationError) -> str:
    return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())


@router.get("/attribution")
def attribution_page(request: Request, _user: PageUser, session: SessionDep):
    """The form, and with a lookup the holders (what GET /api/v1/attribution answers)."""
    given = query_dict(request, ATTRIBUTION_FIELDS)
    form = query_dict(request, ("kind", "value"))   # the form: a kind and a value
    if form.get("kind") in LOOKUP_KINDS and form.get("value"):
        given = {k: v for k, v in given.items() if k not in LOOKUP_KINDS}
        given[form["kind"]] = form["value"]
    result, error = None, None
    if any(k in given for k in LOOKUP_KINDS):
        try:
            q = AttributionQuery.model_validate(given)
            result = svc.attribution(session, q.kind, q.value, q.at, q.since, q.until, q.host,
                                     q.limit)
        except ValidationError as exc:
            error = _errors(exc)
        except Invalid as exc:   # not a MAC, not a PCI address ...: say so on the form
            error = exc.message
    kind = next((k for k in LOOKUP_KINDS if k in given), "mac")
    return render(request, "attribution.html", {
        "given": given, "kind": kind, "kinds": LOOKUP_KINDS, "result": result, "error": error,
        "json_url": "/api/v1/attribution?" + qs(given)})


@router.get("/conflicts")
def conflicts_page(request: Request, _user: PageUser, session: SessionDep):
    q, error = parse(request, ConflictQuery)
    data = svc.list_conflicts(session, q.since, q.until, q.kind, q.ongoing, q.limit)
    state = query_dict(request, ("since", "until", "kind", "ongoing"))
    return render(request, "conflicts.html", {
        **data, "q": q, "error": error, "json_url": "/api/v1/conflicts?" + qs(state)})


@router.get("/changes")
def changes_page(request: Request, _user: PageUser, session: SessionDep):
    """Definitions changed in a range, filterable by what changed (?what=memory&what=disks)."""
    what = [w for w in request.query_params.getlist("what") if w]
    try:
        q, error = ChangeQuery.model_validate({**query_dict(request, ("since", "until")),
                                               "what": what}), None
    except ValidationError as exc:
        q, error = ChangeQuery(), _errors(exc)
    data = svc.list_changes(session, q.since, q.until, q.what, q.limit)
    state = {**query_dict(request, ("since", "until")), "what": list(q.what)}
    return render(request, "changes.html", {
        **data, "q": q, "error": error, "categories": ("memory", "vcpus", "disks", "interfaces",
                                                        "devices", "other"),
        "json_url": "/api/v1/changes?" + qs(state)})

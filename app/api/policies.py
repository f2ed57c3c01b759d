"""Policies over HTTP: the bundle for forwarders, rules with hit counts, what-if replays.

    GET  /api/v1/policy-bundle                      host token; ETag = bundle version, 304;
                                                    the operators' signature in a header
    GET  /api/v1/policies                           rules + deny/warn/dryrun hits 24h/7d
    GET  /api/v1/policies/rules/{rule_id}           one rule: definition + hits per bucket
    GET  /api/v1/policies/{rule_id}/evaluate?event_id=...   the rule against a stored event
    POST /api/v1/policies/evaluate {event_id, rule}  a draft rule (YAML as JSON) against one

Each route is one call into app/policy/service.py, which the dashboard's policies page uses too.
"""
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel

from app.api import API_V1
from app.deps import CurrentUser, HostDep, SessionDep, SettingsDep
from app.errors import ApiError
from app.policy import service as svc
from app.policy.published import bundle_to_serve
from app.policy.rule_page import rule_detail
from app.schemas import ErrorResponse
from app.schemas_query import RangeQuery
from hookshim.bundle_sig import SIGNATURE_HEADER

router = APIRouter(prefix=API_V1, tags=["policies"])
ERRORS = {code: {"model": ErrorResponse} for code in (401, 404, 422)}


@router.get("/policy-bundle", responses={304: {"description": "unchanged"},
                                         503: {"model": ErrorResponse}, 401: {"model": ErrorResponse}})
def get_policy_bundle(settings: SettingsDep, _host: HostDep,
                      if_none_match: str | None = Header(None)):
    """The bundle the forwarder installs for the hook (ETag: its version): the published
    operator-signed one (app/policy/published.py), else the YAML compiled, unsigned."""
    try:
        version, data, signature = bundle_to_serve(settings)
    except svc.BundleUnavailable as exc:
        raise ApiError(503, "policy_bundle_invalid", "the policy directory has errors; hosts "
                       "keep their last good bundle", [f.as_dict() for f in exc.findings]) from None
    etag = f'"{version}"'
    if if_none_match and _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    signed = {SIGNATURE_HEADER: signature} if signature else {}
    return Response(data, media_type="application/json", headers={"ETag": etag} | signed)


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


@router.get("/policies", responses=ERRORS)
def get_policies(session: SessionDep, settings: SettingsDep, _user: CurrentUser):
    """Every rule of the current bundle with its hits (deny/warn/dryrun/mutate/error, 24h/7d)."""
    return svc.list_policies(session, svc.cache_for(settings))


@router.get("/policies/rules/{rule_id}", responses=ERRORS)
def get_rule(rule_id: str, session: SessionDep, settings: SettingsDep, _user: CurrentUser,
             q: Annotated[RangeQuery, Query()]):
    """One rule as written (match, condition, mode, message) and its decisions per time
    bucket by kind (deny/warn/dryrun/mutate/error) over ``since``..``until``."""
    return rule_detail(session, svc.cache_for(settings), rule_id, q.since, q.until)


@router.get("/policies/{rule_id}/evaluate", responses=ERRORS)
def evaluate_rule(rule_id: str, event_id: str, session: SessionDep,
                  settings: SettingsDep, _user: CurrentUser):
    """What rule ``rule_id`` would do to stored event ``event_id``: verdict and XML diff."""
    return svc.evaluate_rule(session, svc.cache_for(settings), rule_id, event_id)


class DraftEvaluation(BaseModel):
    event_id: str
    rule: dict[str, Any]


@router.post("/policies/evaluate", responses=ERRORS)
def evaluate_draft(body: DraftEvaluation, session: SessionDep, _user: CurrentUser):
    """A draft rule (the YAML rule as JSON) against a stored event, before it ships."""
    return svc.evaluate_draft(session, body.rule, body.event_id)

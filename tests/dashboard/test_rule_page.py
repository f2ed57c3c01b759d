"""The rule page and its JSON twin: the rule as written, and its hits per bucket and kind."""
from collections import Counter
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.dashboard.conftest import BASE_URL, login
from tests.factories import BASE_TIME, chain_of, post_events
from tests.fixtures_app import HostCred
from tests.policy.helpers import NO_HOSTDEV, VCPU_CAP

SINCE, UNTIL = "2026-11-25T11:00:00Z", "2026-11-25T14:00:00Z"


def _policy(rule_id: str, mode: str, verdict: str) -> dict:
    return {"bundle_version": "b1", "decisions": [
        {"rule_id": rule_id, "mode": mode, "verdict": verdict, "message": "m", "error": None}]}


# (minutes after BASE_TIME, rule, mode, verdict): the vcpu-cap rule moved dryrun -> warn
DECISIONS = [(0, "vcpu-cap", "dryrun", "deny"), (1, "vcpu-cap", "dryrun", "deny"),
             (50, "vcpu-cap", "warn", "deny"), (90, "vcpu-cap", "enforce", "deny"),
             (91, "vcpu-cap", "dryrun", "allow"), (92, "vcpu-cap", "enforce", "error"),
             (5, "no-hostdev-in-prod", "enforce", "deny"), (600, "vcpu-cap", "dryrun", "deny")]


@pytest.fixture
def rapp(make_app, tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    (d / "rules.yaml").write_text(NO_HOSTDEV + VCPU_CAP)
    return make_app(policy_dir=str(d))


@pytest.fixture
def rclient(rapp):
    from app.services import accounts

    with rapp.state.db.session(write=True) as s:
        host = HostCred("host-a", accounts.add_host(s, "host-a"))
        accounts.add_user(s, "vera", "viewer", "correct horse")
    specs = [{"at": BASE_TIME + timedelta(minutes=m), "op": "prepare",
              "policy": _policy(rule, mode, verdict)} for m, rule, mode, verdict in DECISIONS]
    with TestClient(rapp, base_url=BASE_URL) as c:
        assert post_events(c, host, chain_of("host-a", specs)).status_code == 200
        yield login(c, "vera")


def test_rule_twin_has_the_definition_and_counts_hits_per_kind(rclient):
    r = rclient.get(f"/api/v1/policies/rules/vcpu-cap?since={SINCE}&until={UNTIL}")
    assert r.status_code == 200, r.text
    rule = r.json()
    assert rule["mode"] == "dryrun" and rule["spec"]["deny_if"] == {"number": {"path": "./vcpu", "gt": 1}}
    assert rule["spec"]["match"] == {"op": ["prepare"]} and rule["next_step"]["mode"] == "warn"
    # the decisions in range, by kind (allow is not a hit; 600 min is outside the range)
    assert rule["history"]["totals"] == {"deny": 1, "warn": 1, "dryrun": 2, "mutate": 0, "error": 1}
    per_bucket = Counter()
    for b in rule["history"]["buckets"]:
        for k, n in b["counts"].items():
            per_bucket[k] += n
    assert dict(per_bucket) == {"deny": 1, "warn": 1, "dryrun": 2, "mutate": 0, "error": 1}
    hit = [b for b in rule["history"]["buckets"] if b["counts"]["dryrun"]]
    assert len(hit) == 1 and hit[0]["start"] == "2026-11-25T12:00:00.000000Z"   # both at 12:00-12:01


def test_rule_page_shows_definition_histogram_and_event_links(rclient):
    html = rclient.get(f"/policies/rules/vcpu-cap?since={SINCE}&until={UNTIL}").text
    assert 'id="rule-definition"' in html and "./vcpu" in html and "dryrun" in html
    assert 'class="histogram"' in html
    assert "/events?since=2026-11-25T11%3A00%3A00Z&amp;until=2026-11-25T14%3A00%3A00Z&amp;rule=vcpu-cap&amp;verdict=dryrun" in html


def test_policies_page_links_each_rule_to_its_page(rclient):
    assert 'href="/policies/rules/vcpu-cap"' in rclient.get("/policies").text


def test_retired_rule_keeps_its_history_and_unknown_rule_is_404(rapp, rclient, tmp_path):
    (tmp_path / "policies" / "rules.yaml").write_text(NO_HOSTDEV)   # vcpu-cap retired
    rule = rclient.get(f"/api/v1/policies/rules/vcpu-cap?since={SINCE}&until={UNTIL}").json()
    assert rule["in_bundle"] is False and rule["history"]["total"] == 5 and rule["spec"] is None
    assert "retired" in rclient.get(f"/policies/rules/vcpu-cap?since={SINCE}").text
    r = rclient.get("/api/v1/policies/rules/never-was")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert rclient.get("/policies/rules/never-was").status_code == 404


def test_rule_twin_names_a_bad_range(rclient):
    r = rclient.get("/api/v1/policies/rules/vcpu-cap?until=later")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "until"

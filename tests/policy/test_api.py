"""The policy API: bundle for hosts (ETag/304), rules with hit counts, what-if replays."""
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.factories import BASE_TIME, post_events
from tests.fixtures_app import HostCred
from tests.policy.helpers import GUEST, MOVE_IMAGES, NO_HOSTDEV, VCPU_CAP

RULES = NO_HOSTDEV + VCPU_CAP + MOVE_IMAGES


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    (d / "rules.yaml").write_text(RULES)
    return d


@pytest.fixture
def papp(make_app, policy_dir):
    return make_app(policy_dir=str(policy_dir))


@pytest.fixture
def pclient(papp):
    with TestClient(papp) as c:
        yield c


@pytest.fixture
def phost(papp):
    from app.services import accounts

    with papp.state.db.session(write=True) as s:
        return HostCred("host-a", accounts.add_host(s, "host-a"))


@pytest.fixture
def puser(papp):
    from app.services import accounts

    with papp.state.db.session(write=True) as s:
        accounts.add_user(s, "vera", "viewer", "correct horse")
        return {"Authorization": f"Bearer {accounts.create_user_token(s, 'vera')}"}


def test_bundle_is_served_with_etag_and_304(pclient, phost):
    r = pclient.get("/api/v1/policy-bundle", headers=phost.headers)
    assert r.status_code == 200
    bundle = r.json()
    assert r.headers["etag"] == f'"{bundle["version"]}"' and bundle["format"] == 1
    assert [x["id"] for x in bundle["rules"]] == ["no-hostdev-in-prod", "vcpu-cap", "move-images"]
    again = pclient.get("/api/v1/policy-bundle",
                        headers=phost.headers | {"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.headers["etag"] == r.headers["etag"]


def test_bundle_changes_version_when_a_policy_file_changes(pclient, phost, policy_dir):
    first = pclient.get("/api/v1/policy-bundle", headers=phost.headers).headers["etag"]
    (policy_dir / "rules.yaml").write_text(RULES.replace("gt: 1}", "gt: 2}"))
    r = pclient.get("/api/v1/policy-bundle", headers=phost.headers | {"If-None-Match": first})
    assert r.status_code == 200 and r.headers["etag"] != first


def test_broken_policies_are_not_served(pclient, phost, policy_dir):
    (policy_dir / "rules.yaml").write_text(RULES.replace("[prepare], object", "[reconnect], object"))
    r = pclient.get("/api/v1/policy-bundle", headers=phost.headers)
    assert r.status_code == 503
    err = r.json()["error"]
    assert err["code"] == "policy_bundle_invalid" and "reconnect" in err["details"][0]["message"]


def test_bundle_needs_a_host_token(pclient, puser):
    assert pclient.get("/api/v1/policy-bundle").status_code == 401
    assert pclient.get("/api/v1/policy-bundle", headers=puser).json()["error"]["code"] == "unauthorized"


def test_no_policy_dir_serves_an_empty_bundle(client, host_a):
    r = client.get("/api/v1/policy-bundle", headers=host_a.headers)
    assert r.status_code == 200 and r.json()["rules"] == []


def test_policies_list_counts_hits_per_rule_mode_and_window(pclient, phost, puser):
    now = BASE_TIME + timedelta(days=8)
    events = _rechain(_decided_all(now))
    assert post_events(pclient, phost, events).status_code == 200
    from app.policy import service

    with pclient.app.state.db.session() as s:
        data = service.list_policies(s, service.cache_for(pclient.app.state.settings),
                                     now=now.replace(tzinfo=None))
    rules = {r["id"]: r for r in data["rules"]}
    assert rules["no-hostdev-in-prod"]["hits"]["24h"]["deny"] == 2
    assert rules["no-hostdev-in-prod"]["spec"]["match"] == {"op": ["prepare"], "object": "prod-*"}
    assert rules["vcpu-cap"]["hits"]["24h"]["dryrun"] == 0
    assert rules["vcpu-cap"]["hits"]["7d"]["dryrun"] == 3   # the 30-day-old one is outside
    assert rules["old-rule"] == {"id": "old-rule", "in_bundle": False, "hits": rules["old-rule"]["hits"]}
    assert rules["old-rule"]["hits"]["24h"]["warn"] == 1
    r = pclient.get("/api/v1/policies", headers=puser)
    assert r.status_code == 200 and r.json()["bundle_version"]


def _decided_all(now):
    rows = [(2, timedelta(hours=1), "no-hostdev-in-prod", "enforce", "deny"),
            (3, timedelta(days=3), "vcpu-cap", "dryrun", "deny"),
            (1, timedelta(hours=2), "vcpu-cap", "dryrun", "allow"),
            (1, timedelta(days=30), "vcpu-cap", "dryrun", "deny"),
            (1, timedelta(hours=3), "old-rule", "warn", "deny")]
    out = []
    for n, ago, rule, mode, verdict in sorted(rows, key=lambda r: -r[1].total_seconds()):
        policy = {"bundle_version": "v1", "decisions": [
            {"rule_id": rule, "mode": mode, "verdict": verdict, "message": "m", "error": None}]}
        for i in range(n):
            out.append({"policy": policy, "at": now - ago + timedelta(seconds=i)})
    return out


def _rechain(specs):
    from tests.factories import make_event

    events, prev = [], "0" * 64
    for i, spec in enumerate(specs):
        ev = make_event(host="host-a", seq=i + 1, prev_hash=prev, started_at=spec["at"],
                        policy=spec["policy"],
                        shim={"version": "0.1.0", "hostname": "host-a", "pid": 1})
        events.append(ev)
        prev = ev["hash"]
    return events


def _stored(pclient, phost, **over):
    from tests.factories import make_event

    ev = make_event(host="host-a", shim={"version": "0.1.0", "hostname": "host-a", "pid": 1},
                    **over)
    assert post_events(pclient, phost, [ev]).status_code == 200
    return ev


def test_evaluate_rule_against_a_stored_migrate_event_shows_the_diff(pclient, phost, puser):
    ev = _stored(pclient, phost, op="migrate", object="web1", xml=GUEST)
    r = pclient.get(f"/api/v1/policies/move-images/evaluate?event_id={ev['event_id']}", headers=puser)
    body = r.json()
    assert body["verdict"] == "mutate" and not body["would_deny"]
    assert "-      <source file='/var/lib/xen/images/web1.img'/>" in body["xml_diff"]
    assert "+      <source file='/srv/images/web1.img'/>" in body["xml_diff"]


def test_evaluate_dryrun_rule_shows_what_enforcing_would_do(pclient, phost, puser):
    ev = _stored(pclient, phost, op="prepare", object="prod-web1", xml=GUEST)
    r = pclient.get(f"/api/v1/policies/vcpu-cap/evaluate?event_id={ev['event_id']}", headers=puser)
    body = r.json()
    assert (body["mode"], body["verdict"], body["would_deny"]) == ("dryrun", "deny", True)
    assert body["reason"] == "vcpu-cap: too many vCPUs" and body["xml_diff"] is None


def test_evaluate_rule_that_does_not_apply_to_the_op(pclient, phost, puser):
    ev = _stored(pclient, phost, op="start", object="prod-web1", xml=GUEST)
    body = pclient.get(f"/api/v1/policies/vcpu-cap/evaluate?event_id={ev['event_id']}",
                       headers=puser).json()
    assert body["applies"] is False and body["verdict"] is None


def test_evaluate_unknown_rule_or_event_is_404(pclient, phost, puser):
    ev = _stored(pclient, phost)
    r = pclient.get(f"/api/v1/policies/nope/evaluate?event_id={ev['event_id']}", headers=puser)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = pclient.get("/api/v1/policies/vcpu-cap/evaluate?event_id=0190c1a2-0000-7000-8000-000000000000",
                    headers=puser)
    assert r.status_code == 404


def test_draft_rule_is_evaluated_and_bad_drafts_are_refused(pclient, phost, puser):
    ev = _stored(pclient, phost, op="prepare", object="prod-web1", xml=GUEST)
    draft = {"id": "need-two-disks", "match": {"op": ["prepare"]}, "mode": "dryrun",
             "deny_if": {"count": {"path": "./devices/disk", "lt": 3}}, "message": "two disks"}
    r = pclient.post("/api/v1/policies/evaluate", json={"event_id": ev["event_id"], "rule": draft},
                     headers=puser)
    assert r.json()["would_deny"] is True
    r = pclient.post("/api/v1/policies/evaluate", headers=puser, json={
        "event_id": ev["event_id"], "rule": draft | {"match": {"op": ["reconnect"]}, "mode": "enforce"}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "policy_lint_error"
    r = pclient.post("/api/v1/policies/evaluate", headers=puser, json={
        "event_id": ev["event_id"], "rule": draft | {"deny_if": {"regex": {"path": "./name",
                                                                           "pattern": "(a+)+"}}}})
    assert r.status_code == 422 and "nests quantifiers" in r.json()["error"]["details"][0]["message"]


def test_policy_service_lists_rules_and_replays_the_bundle_on_an_event(papp, pclient, phost):
    from app.policy import service
    from app.services.events import get_event

    ev = _stored(pclient, phost, op="prepare", object="prod-web1",
                 xml=GUEST.replace("</devices>", "<hostdev/></devices>"))
    with papp.state.db.session() as s:
        cache = service.cache_for(papp.state.settings)
        rules = service.list_policies(s, cache)["rules"]
        result = service.replay_current(cache, get_event(s, ev["event_id"]))
    assert [r["id"] for r in rules] == ["no-hostdev-in-prod", "vcpu-cap", "move-images"]
    assert result["deny"] and result["reason"].startswith("no-hostdev-in-prod:")
    assert {d["rule_id"]: d["verdict"] for d in result["decisions"]} == {
        "no-hostdev-in-prod": "deny", "vcpu-cap": "deny"}


def test_draft_replay_uses_the_events_host_and_time(pclient, phost, puser):
    ev = _stored(pclient, phost, op="prepare", object="web1", xml=GUEST)  # Wed 12:00 UTC
    window = {"id": "window", "match": {"op": ["prepare"], "host": "host-a"}, "mode": "dryrun",
              "message": "maintenance", "deny_if": {"time": {"days": ["wed"], "from": "12:00",
                                                              "to": "13:00"}}}

    def would_deny(rule):
        return pclient.post("/api/v1/policies/evaluate", headers=puser,
                            json={"event_id": ev["event_id"], "rule": rule}).json()["would_deny"]

    assert would_deny(window) is True
    assert would_deny(window | {"deny_if": {"time": {"days": ["thu"]}}}) is False
    assert would_deny(window | {"match": {"op": ["prepare"], "host": "host-b"}}) is False

"""Links and filters give the right answer (issue 15 §1, the aborts' exports of §2): rule and
verdict filters, host/guest globs, unknown parameters, "what refused" groups, reason groups
across guests, the hosts' backlog "as of", the overview's hosts needing care, 404 pages.
Runs on SQLite and PostgreSQL (the app fixture)."""
import csv
import html
import io
import json
import re
from datetime import timedelta

import pytest

from tests.dashboard.seeding import chain
from tests.factories import post_events

UUIDS = [f"11111111-2222-4333-8444-5555555556{i:02d}" for i in range(10)]


def policy(*decisions) -> dict:
    return {"bundle_version": "b1", "decisions": [
        {"rule_id": rule, "mode": mode, "verdict": verdict, "message": f"{rule} says so",
         "error": None} for rule, mode, verdict in decisions]}


def refused_by(rule: str, guest: int, **extra) -> dict:
    """A prepare refused by an enforced ``rule`` (a warn rule also fired on it)."""
    return {"op": "prepare", "object": f"vm-{guest}", "domain_uuid": UUIDS[guest],
            "outcome": "aborted", "exit_code": 1,
            "reason": f"denied by hookaudit policy: {rule} says so",
            "policy": policy((rule, "enforce", "deny"), ("describe-it", "warn", "deny")), **extra}


def script_failed(guest: int) -> dict:
    """An adopted script refused the start; its stderr names the guest; a warn rule fired."""
    name = f"vm-{guest}"
    return {"op": "prepare", "object": name, "domain_uuid": UUIDS[guest], "outcome": "aborted",
            "exit_code": 1, "reason": f"hook script /etc/libvirt/hooks/libxl.d/10-net failed: "
                                      f"exit status 1: no bridge for {name} ({UUIDS[guest]})",
            "policy": policy(("describe-it", "warn", "deny"))}


@pytest.fixture
def story(seed):
    """host-a: 2 refusals by no-pci, 3 script failures (3 guests), 1 timeout, ok calls with a
    dryrun deny and a mutation."""
    specs = [refused_by("no-pci", 1), refused_by("no-pci", 2),
             script_failed(3), script_failed(4), script_failed(5),
             {"op": "started", "object": "vm-6", "domain_uuid": UUIDS[6], "outcome": "timed_out",
              "reason": "hookshim: timed out after 30001 ms"},
             {"op": "prepare", "object": "vm-7", "domain_uuid": UUIDS[7],
              "policy": policy(("cap-memory", "dryrun", "deny"), ("set-disk", "enforce", "mutate"))},
             {"op": "start", "object": "vm-7", "domain_uuid": UUIDS[7]}]
    events = chain("host-a", specs)
    seed(events)
    return events


def ids(response) -> list[str]:
    return [e["event_id"] for e in response.json()["items"]]


# -- rule and verdict filters --------------------------------------------------------------

def test_aborts_rule_filter_lists_only_that_rules_aborts(viewer, story):
    r = viewer.client.get("/api/v1/aborts?rule=no-pci", headers=viewer.headers)
    assert ids(r) == [story[1]["event_id"], story[0]["event_id"]]


def test_events_rule_filter_is_not_ignored(viewer, story):
    r = viewer.client.get("/api/v1/events?rule=cap-memory", headers=viewer.headers)
    assert ids(r) == [story[6]["event_id"]]


@pytest.mark.parametrize("verdict, expected", [
    ("deny", [1, 0]),              # enforced refusals only
    ("warn", [4, 3, 2, 1, 0]),     # describe-it in warn mode
    ("dryrun", [6]), ("mutate", [6]), ("error", []),
])
def test_verdict_filter_follows_the_mode(viewer, story, verdict, expected):
    r = viewer.client.get(f"/api/v1/events?verdict={verdict}", headers=viewer.headers)
    assert ids(r) == [story[i]["event_id"] for i in expected]


def test_rule_and_verdict_must_hold_for_the_same_decision(viewer, story):
    r = viewer.client.get("/api/v1/events?rule=describe-it&verdict=deny", headers=viewer.headers)
    assert ids(r) == []       # describe-it only warned, no-pci denied


def test_exports_filter_by_rule_and_carry_rule_id_and_verdict(viewer, story):
    r = viewer.client.get("/api/v1/events?rule=no-pci&format=csv", headers=viewer.headers)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["event_id"] for row in rows] == [story[1]["event_id"], story[0]["event_id"]]
    assert rows[0]["rule_id"] == "no-pci;describe-it" and rows[0]["verdict"] == "deny;warn"


def test_cli_query_filters_by_rule_and_verdict(app, story, capsys):
    from app.cli import main

    url = app.state.settings.database_url
    assert main(["--database-url", url, "events", "query", "--verdict", "dryrun"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == [story[6]["event_id"]]
    assert json.loads(lines[0])["verdict"] == "dryrun;mutate"


def test_every_policies_hit_count_links_to_exactly_those_events(viewer_client, viewer, story):
    html = viewer_client.get("/policies").text
    links = re.findall(r'<a class="hits" href="(/events\?[^"]+)">(\d+)</a>', html)
    assert len(links) >= 8          # no-pci, describe-it, cap-memory, set-disk x 2 windows
    for href, shown in links:
        url = "/api/v1" + href.replace("&amp;", "&") + "&limit=500"
        assert len(ids(viewer.client.get(url, headers=viewer.headers))) == int(shown), href


# -- aborts: groups, multi-outcome, exports ------------------------------------------------

def group_counts(viewer, by: str) -> dict:
    r = viewer.client.get(f"/api/v1/aborts/groups?by={by}", headers=viewer.headers)
    return {(g["kind"], g["key"]): g["count"] for g in r.json()["groups"]}


def test_what_refused_credits_enforced_rules_scripts_and_the_shim(viewer, story):
    assert group_counts(viewer, "rule") == {
        ("rule", "no-pci"): 2, ("script", "/etc/libvirt/hooks/libxl.d/10-net"): 3,
        ("internal", "internal"): 1}       # describe-it (warn) refused nothing


def test_reason_groups_do_not_split_one_script_per_guest(viewer, story):
    groups = group_counts(viewer, "reason")
    key = ("reason", "hook script /etc/libvirt/hooks/libxl.d/10-net failed: exit status 1: "
                     "no bridge for <guest> (<uuid>)")
    assert groups[key] == 3 and len(groups) == 3


def test_aborts_outcome_is_multi_select(viewer, story):
    one = viewer.client.get("/api/v1/aborts?outcome=timed_out", headers=viewer.headers)
    both = viewer.client.get("/api/v1/aborts?outcome=timed_out&outcome=aborted",
                             headers=viewer.headers)
    assert ids(one) == [story[5]["event_id"]] and len(ids(both)) == 6
    bad = viewer.client.get("/api/v1/aborts?outcome=ok", headers=viewer.headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "outcome.0"


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_aborts_export_streams_every_abort_with_rule_and_verdict(viewer, story, fmt):
    r = viewer.client.get(f"/api/v1/aborts?format={fmt}&outcome=aborted", headers=viewer.headers)
    assert r.status_code == 200 and f'filename="aborts.{fmt}"' in r.headers["content-disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.text)))
    else:
        rows = [json.loads(line) for line in r.text.splitlines()]
    assert [row["event_id"] for row in rows] == [e["event_id"] for e in reversed(story[:5])]
    assert [row["rule_id"] for row in rows][-1] == "no-pci;describe-it"
    assert rows[0]["verdict"] == "warn"


def test_aborts_csv_keeps_formula_neutralisation(viewer, seed):
    seed(chain("host-a", [{"op": "prepare", "outcome": "aborted", "exit_code": 1,
                           "reason": "=HYPERLINK(\"http://x\")"}]))
    r = viewer.client.get("/api/v1/aborts?format=csv", headers=viewer.headers)
    assert "'=HYPERLINK" in r.text


def test_aborts_page_has_export_buttons_and_outcome_checkboxes(viewer_client, story):
    html = viewer_client.get("/aborts?outcome=killed&outcome=timed_out").text
    # the export is what the page shows: its filters and its range (the default, as written)
    assert ('id="export-csv" href="/api/v1/aborts?outcome=killed&amp;outcome=timed_out&amp;since=-24h&amp;format=csv"'
            in html)
    assert re.search(r'value="timed_out" checked', html) and not re.search(r'value="aborted" checked', html)
    assert "vm-6" in html and "vm-1" not in html.split('id="abort-groups"')[-1].split("event-rows")[1]


# -- host and guest globs, unknown parameters ---------------------------------------------

def test_host_glob_matches_a_prefix_and_escapes_like(viewer, app, client, make_host):
    events = {}
    for name in ("dom0-rack7-a", "dom0-rack7-b", "dom0-rack70", "dom0_rack7-c"):
        host = make_host(name)
        events[name] = chain(name, [{"op": "prepare"}])
        assert post_events(client, host, events[name]).status_code == 200

    def hosts(query):
        r = viewer.client.get(f"/api/v1/events?{query}", headers=viewer.headers)
        return sorted(e["host"] for e in r.json()["items"])
    assert hosts("host=dom0-rack7-*") == ["dom0-rack7-a", "dom0-rack7-b"]
    assert hosts("host=DOM0-RACK7-?") == ["dom0-rack7-a", "dom0-rack7-b"]
    assert hosts("host=dom0_rack7*") == ["dom0_rack7-c"]       # _ is not a wildcard
    assert hosts("host=dom0-rack7-a") == ["dom0-rack7-a"]


def test_guest_glob_matches_names(viewer, story):
    r = viewer.client.get("/api/v1/events?guest=vm-?&op=start", headers=viewer.headers)
    assert [e["object"] for e in r.json()["items"]] == ["vm-7"]


def test_unknown_api_parameter_is_a_422_naming_it(viewer):
    for url in ("/api/v1/events?hots=a", "/api/v1/aborts?rulez=x"):
        r = viewer.client.get(url, headers=viewer.headers)
        assert r.status_code == 422, url
        assert r.json()["error"]["details"][0]["field"] == url.split("?")[1].split("=")[0]


def test_unknown_page_parameter_is_named_and_other_filters_apply(viewer_client, story):
    r = viewer_client.get("/events?hots=a&outcome=timed_out&verdict=nope")
    assert r.status_code == 200
    notice = html.unescape(re.search(r'<div class="error-box"[^>]*>([^<]+)', r.text).group(1))
    assert "'hots'" in notice and "verdict" in notice
    assert "vm-6" in r.text and "vm-1<" not in r.text      # the outcome filter still applies


# -- hosts: backlog as of the heartbeat, stale since ----------------------------------------

def test_hosts_backlog_is_as_of_the_heartbeat_and_a_lower_bound_when_stale(
        viewer_client, viewer, app, client, host_a, seed):
    events = chain("host-a", [{"op": "prepare"}, {"op": "start"}])
    seed(events)
    beat = {"host": "host-a", "spool_depth": 5, "oldest_unsent_age_s": 40.0, "last_seq": 7}
    assert client.post("/api/v1/heartbeat", json=beat, headers=host_a.headers).status_code == 200
    host = viewer.client.get("/api/v1/hosts", headers=viewer.headers).json()[0]
    assert host["backlog"]["pending"] == 5 and host["backlog"]["at_least"] is False
    assert host["backlog"]["as_of"] == host["heartbeat_at"] and host["stale_since"] is None
    # the host goes silent: its last numbers become lower bounds, "stale since" its last contact
    from app.models import Host
    with app.state.db.session(write=True) as s:
        row = s.query(Host).filter_by(name="host-a").one()
        row.last_seen_at = row.hb_at = row.hb_at - timedelta(hours=3)
    host = viewer.client.get("/api/v1/hosts", headers=viewer.headers).json()[0]
    assert host["health"] == "stale" and host["stale_since"] == host["last_seen_at"]
    assert host["backlog"] == {"pending": 5, "oldest_unsent_age_s": 40.0,
                               "as_of": host["heartbeat_at"], "at_least": True}
    html = viewer_client.get("/hosts").text
    assert "stale since" in html and "≥ 5" in html and 'class="badge h-stale"' in html


def test_backlog_counts_only_what_has_not_arrived_since_the_heartbeat(
        viewer, client, host_a, seed):
    first = chain("host-a", [{"op": "prepare"}])
    seed(first)
    beat = {"host": "host-a", "spool_depth": 3, "oldest_unsent_age_s": 5.0, "last_seq": 4}
    assert client.post("/api/v1/heartbeat", json=beat, headers=host_a.headers).status_code == 200
    from tests.dashboard.seeding import later
    seed(later("host-a", first, [{"op": "start"}, {"op": "started"}]))     # seq 2, 3 arrive
    host = viewer.client.get("/api/v1/hosts", headers=viewer.headers).json()[0]
    assert host["backlog"]["pending"] == 1


# -- overview, 404 -------------------------------------------------------------------------

def test_overview_hosts_needing_care_show_name_health_and_why(viewer_client, make_host):
    make_host("dom0-quiet")
    html = viewer_client.get("/").text
    section = html.split('id="h-hosts"')[1].split("</section>")[0]
    assert '<a href="/events?host=dom0-quiet">dom0-quiet</a>' in section
    assert 'class="badge h-never_seen">never seen</span>' in section
    assert "never reported" in section


def test_why_a_host_needs_care_reads_as_a_sentence():
    from app.services.overview import why
    host = {"health": "stale", "last_seen_at": "2026-12-07T17:37:27.863027Z", "missing_events": 2,
            "chain_problems": 0, "oldest_unsent_age_s": None, "heartbeat_at": None,
            "spool_reset": {"at": "2026-12-07T17:30:00.000001Z"}}
    assert why(host) == ["stale since 2026-12-07 17:37:27 UTC", "2 missing event(s) in seq gaps",
                         "spool reset at 2026-12-07 17:30:00 UTC"]


def test_unknown_route_answers_a_page_to_browsers_and_json_to_the_api(viewer_client):
    page = viewer_client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text
    api = viewer_client.get("/api/v1/no/such")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_favicon_is_served(anon):
    r = anon.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/")

"""The event page's additions: what virsh printed, verdict colours by mode, the op glossary
from hookshim/outcome.py, previous/next call of the guest, migration source → destination."""
import pytest

from app.web.event_view import FIRES, glossary, verdict_view, virsh_error
from hookshim import outcome
from tests.dashboard.seeding import WEB_UUID, fleet, migration_story
from tests.factories import post_events


@pytest.mark.parametrize("decision, expected", [
    # an enforced deny that applied: the refusing red
    ({"verdict": "deny", "mode": "enforce"}, ("v-deny", "deny")),
    # the same rule in warn or dryrun refused nothing: its own colour, in the conditional
    ({"verdict": "deny", "mode": "warn"}, ("v-warn", "would deny (warn)")),
    ({"verdict": "deny", "mode": "dryrun"}, ("v-dryrun", "would deny (dryrun)")),
    # the guard rail kept an enforce deny from destroying a running guest
    ({"verdict": "deny", "mode": "enforce", "error": "guard rail: not applied"},
     ("v-error", "deny not applied")),
    ({"verdict": "mutate", "mode": "enforce"}, ("v-mutate", "rewrite")),
    ({"verdict": "mutate", "mode": "dryrun"}, ("v-dryrun", "would rewrite (dryrun)")),
    ({"verdict": "error", "mode": "enforce"}, ("v-error", "error")),
    ({"verdict": "allow", "mode": "warn"}, ("v-allow", "allow")),
])
def test_verdict_view_colours_by_mode(decision, expected):
    assert verdict_view(decision) == expected


def test_virsh_error_quotes_the_hooks_stderr_and_argv():
    ev = {"driver": "libxl", "object": "db-02", "op": "prepare", "subop": "begin",
          "extra": "-", "exit_code": 1, "outcome": "aborted",
          "stderr": "hookaudit: denied by no-pci\n"}
    assert virsh_error(ev) == (
        "error: Hook script execution failed: internal error: Child process (LC_ALL=C PATH=… "
        "/etc/libvirt/hooks/libxl db-02 prepare begin -) unexpected exit status 1: "
        "hookaudit: denied by no-pci")


@pytest.mark.parametrize("ev", [
    {"driver": "libxl", "op": "prepare", "exit_code": 0, "outcome": "ok"},
    # libvirt logs a failed stopped hook and carries on: the caller sees nothing
    {"driver": "qemu", "op": "stopped", "exit_code": 1, "outcome": "failed_ignored"},
])
def test_no_virsh_error_when_the_caller_saw_none(ev):
    assert virsh_error(ev) is None


def test_every_op_of_the_outcome_model_has_a_glossary_line():
    for driver in outcome.DRIVERS:
        for op in outcome.ops(driver):
            assert FIRES.get((driver, op)) or FIRES.get(op), (driver, op)


def test_glossary_takes_failures_from_the_outcome_model():
    terms = {t["op"]: t for t in glossary("qemu")}
    assert list(terms) == outcome.ops("qemu")
    assert terms["started"]["failure"] == outcome.failure_outcome("qemu", "started") == "killed"
    assert terms["migrate"]["filter"] is True and terms["stopped"]["filter"] is False


def test_event_api_and_page_link_the_guests_previous_and_next_call(seed, admin, viewer_client):
    seed(fleet("host-a"))
    page = admin.client.get("/api/v1/events", params={"guest": WEB_UUID, "order": "asc"}).json()
    first, middle, last = [e["event_id"] for e in page["items"]]
    calls = admin.client.get(f"/api/v1/events/{middle}").json()["guest_calls"]
    assert (calls["previous"]["event_id"], calls["next"]["event_id"]) == (first, last)
    assert admin.client.get(f"/api/v1/events/{first}").json()["guest_calls"]["previous"] is None
    html = viewer_client.get(f"/events/{middle}").text
    assert f'rel="prev" href="/events/{first}"' in html
    assert f'rel="next" href="/events/{last}"' in html


def test_migrate_event_names_source_and_destination(client, admin, viewer_client, host_a,
                                                    host_b):
    a_events = fleet("host-a")
    assert post_events(client, host_a, a_events).status_code == 200
    a_more, b_events = migration_story(a_events)
    assert post_events(client, host_b, b_events).status_code == 200
    migrate = b_events[0]["event_id"]
    data = admin.client.get(f"/api/v1/events/{migrate}").json()
    assert data["migration"] == {"source": "host-a", "destination": "host-b"}
    html = viewer_client.get(f"/events/{migrate}").text
    assert 'id="migration"' in html and "host-a → <b>host-b</b>" in html


def test_event_page_shows_virsh_error_glossary_and_warn_colour(seed, admin, viewer_client):
    from tests.dashboard.seeding import chain
    warn = {"bundle_version": "b1", "decisions": [
        {"rule_id": "mem-cap", "mode": "warn", "verdict": "deny", "message": "too big",
         "error": None}]}
    seed(chain("host-a", [{"op": "prepare", "policy": warn},
                          {"op": "prepare", "outcome": "aborted", "exit_code": 1,
                           "stderr": "hookaudit: denied\n", "reason": "denied"}]))
    items = admin.client.get("/api/v1/events", params={"order": "asc"}).json()["items"]
    warned = viewer_client.get(f"/events/{items[0]['event_id']}").text
    assert 'class="badge v-warn"' in warned and "would deny (warn)" in warned
    assert 'id="virsh-error"' not in warned and 'id="glossary"' in warned
    refused = viewer_client.get(f"/events/{items[1]['event_id']}").text
    assert 'id="virsh-error"' in refused and "unexpected exit status 1: hookaudit: denied" in refused

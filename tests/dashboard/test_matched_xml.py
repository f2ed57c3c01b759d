"""The event page marks the XML element(s) that made a rule match (app/policy/matched.py,
app/web/xmlview.py), re-evaluated with the bundle that decided or else the current rules."""
import re

import pytest
from fastapi.testclient import TestClient

from app.policy.matched import rule_elements
from app.policy.service import cache_for, find_rule
from app.web.xmlview import element_spans, pretty_xml, xml_html
from tests.dashboard.conftest import BASE_URL, login
from tests.factories import chain_of, post_events
from tests.fixtures_app import HostCred
from tests.policy.helpers import NO_HOSTDEV, VCPU_CAP

PROD_XML = ("<domain type='kvm'><name>prod-db</name><vcpu>4</vcpu>"
            "<description>x &gt; y</description>"
            "<devices><disk type='file'><source file='/a'/></disk>"
            "<hostdev mode='subsystem' type='pci'><source><address bus='0x03'/></source></hostdev>"
            "</devices></domain>")
MARK = re.compile(r'<mark class="matched" id="match-(\d+)" title="matched rule ([^"]+)">'
                  r'(.*?)</mark>',
                  re.DOTALL)


def _bundle(tmp_path, text):
    from app.policy.compiler import compile_dir

    d = tmp_path / "p"
    d.mkdir(exist_ok=True)
    (d / "rules.yaml").write_text(text)
    return compile_dir(d)[0]


def test_exists_marks_the_selected_element_and_number_only_the_one_past_the_bound(tmp_path):
    bundle = _bundle(tmp_path, NO_HOSTDEV + VCPU_CAP)
    spans = element_spans(pretty_xml(PROD_XML))
    shown = [pretty_xml(PROD_XML)[a:b] for a, b in spans]
    hostdev = rule_elements(find_rule(bundle, "no-hostdev-in-prod"), PROD_XML, 0)
    assert [shown[i].split(">")[0] for i in hostdev] == ['<hostdev mode="subsystem" type="pci"']
    vcpu = rule_elements(find_rule(bundle, "vcpu-cap"), PROD_XML, 0)
    assert [shown[i] for i in vcpu] == ["<vcpu>4</vcpu>"]
    # a guest within the bound: the rule does not hold, nothing is marked
    assert rule_elements(find_rule(bundle, "vcpu-cap"), PROD_XML.replace(">4<", ">1<"), 0) == []


def test_marks_wrap_whole_elements_and_skip_ones_inside_a_mark():
    html = str(xml_html(PROD_XML, {5: ["outer"], 6: ["inner"], 2: ["v"]}))
    marks = MARK.findall(html)
    assert [(n, rule) for n, rule, _ in marks] == [("1", "v"), ("2", "outer")]
    assert marks[1][2].startswith("&lt;disk") and marks[1][2].endswith("&lt;/disk&gt;")
    assert "x &amp;gt; y" in html          # text is still escaped around the marks


@pytest.fixture
def mapp(make_app, tmp_path):
    d = tmp_path / "policies"
    d.mkdir()
    (d / "rules.yaml").write_text(NO_HOSTDEV)
    return make_app(policy_dir=str(d))


def _event(mapp, rule_id, bundle_version):
    from app.services import accounts

    with mapp.state.db.session(write=True) as s:
        host = HostCred("host-a", accounts.add_host(s, "host-a"))
        accounts.add_user(s, "vera", "viewer", "correct horse")
    policy = {"bundle_version": bundle_version, "decisions": [
        {"rule_id": rule_id, "mode": "enforce", "verdict": "deny", "message": "m", "error": None}]}
    ev = chain_of("host-a", [{"op": "prepare", "object": "prod-db", "outcome": "aborted",
                              "exit_code": 1, "xml": PROD_XML, "policy": policy}])
    return host, ev


@pytest.mark.parametrize("decided_by_current", [True, False])
def test_event_page_marks_the_hostdev_that_matched(mapp, decided_by_current):
    version = cache_for(mapp.state.settings).get()[0]["version"] if decided_by_current else "old"
    host, events = _event(mapp, "no-hostdev-in-prod", version)
    with TestClient(mapp, base_url=BASE_URL) as c:
        assert post_events(c, host, events).status_code == 200
        user = login(c, "vera")
        html = user.get(f"/events/{events[0]['event_id']}").text
        api = user.get(f"/api/v1/events/{events[0]['event_id']}").json()["matched"]
    marks = MARK.findall(html)
    assert len(marks) == 1
    # the JSON twin says the same: one rule, one element, and which bundle re-evaluated it
    [found] = api["rules"]
    assert (found["rule_id"], len(found["elements"]), api["retired"]) == (
        "no-hostdev-in-prod", 1, [])
    assert found["source"] == ("decided" if decided_by_current else "current")
    n, rule, body = marks[0]
    assert (n, rule) == ("1", "no-hostdev-in-prod")
    assert body.startswith("&lt;hostdev") and body.endswith("&lt;/hostdev&gt;")
    note = html.split('id="matched-note"')[1].split("</p>")[0]
    assert ("with the bundle that decided" in note) is decided_by_current
    assert ("the current rules" in note) is not decided_by_current


def test_a_retired_rule_is_said_and_marks_nothing(mapp):
    host, events = _event(mapp, "gone-rule", "old")
    with TestClient(mapp, base_url=BASE_URL) as c:
        assert post_events(c, host, events).status_code == 200
        user = login(c, "vera")
        html = user.get(f"/events/{events[0]['event_id']}").text
        api = user.get(f"/api/v1/events/{events[0]['event_id']}").json()["matched"]
    assert api == {"rules": [], "retired": ["gone-rule"]}
    assert MARK.findall(html) == []
    assert "<b>gone-rule</b> is no longer in the served rules" in html

"""Mutations at filter ops: only the intended change, output only when changed, always parses."""
import xml.etree.ElementTree as ET

import pytest

from app.policy.testing import tree_difference
from tests.policy.helpers import GUEST, run, verdicts


def _mutate(ops: str, mode: str = "enforce", op: str = "migrate", xml: str = GUEST):
    return run(f"- {{id: m, match: {{op: [migrate, restore]}}, mode: {mode}, mutate: {ops}}}",
               xml, op=op)


ROWS = [
    # the example: move disk images under a new prefix (both disks)
    ("[{replace_prefix: {path: ./devices/disk/source, attribute: file, "
     "from: /var/lib/xen/images/, to: /srv/images/}}]",
     [("./devices/disk/source", "file", "/srv/images/web1.img")]),
    # a predicate limits the rewrite to the cdrom
    ("[{replace_prefix: {path: \"./devices/disk[@device='cdrom']/source\", attribute: file, "
     "from: /var/lib/xen/images/, to: /iso/}}]",
     [("./devices/disk[2]/source", "file", "/iso/install.iso"),
      ("./devices/disk[1]/source", "file", "/var/lib/xen/images/web1.img")]),
    # set an attribute
    ("[{set_attribute: {path: ./devices/interface/source, attribute: bridge, value: br1}}]",
     [("./devices/interface/source", "bridge", "br1")]),
    # set text
    ("[{set_text: {path: ./description, value: 'moved by policy'}}]",
     [("./description", None, "moved by policy")]),
    # replace a text prefix (no attribute)
    ("[{replace_prefix: {path: ./description, from: web, to: WEB}}]",
     [("./description", None, "WEB frontend")]),
]


@pytest.mark.parametrize(("ops", "expected"), ROWS, ids=[r[0][:50] for r in ROWS])
def test_mutation_changes_exactly_the_selected_values(ops, expected):
    v = _mutate(ops)
    out = ET.fromstring(v.output_xml)
    for path, attr, value in expected:
        node = out.find(path)
        assert (node.get(attr) if attr else node.text) == value
    assert verdicts(v) == {"m": "mutate"} and not v.deny


def test_remove_attribute_and_element_leave_the_rest_identical():
    v = _mutate("[{remove_attribute: {path: ./devices/disk/target, attribute: bus}}, "
                "{remove_element: {path: ./devices/interface}}]")
    want = ET.fromstring(GUEST)
    for t in want.findall("./devices/disk/target"):
        del t.attrib["bus"]
    want.find("./devices").remove(want.find("./devices/interface"))
    assert tree_difference(want, ET.fromstring(v.output_xml)) is None
    # the lines around the removed element keep their layout
    assert "    </disk>\n  </devices>" in v.output_xml


def test_only_changed_lines_differ_in_the_output_text():
    v = _mutate("[{replace_prefix: {path: ./devices/disk/source, attribute: file, "
                "from: /var/lib/xen/images/, to: /srv/images/}}]")
    changed = [(a, b) for a, b in zip(GUEST.splitlines(), v.output_xml.splitlines()) if a != b]
    assert len(changed) == 2 and all("/srv/images/" in b for _, b in changed)
    assert len(GUEST.splitlines()) == len(v.output_xml.splitlines())


def test_no_change_means_no_output():
    v = _mutate("[{replace_prefix: {path: ./devices/disk/source, attribute: file, "
                "from: /nowhere/, to: /srv/}}]")
    assert v.output_xml is None and verdicts(v) == {"m": "allow"}


def test_setting_the_value_already_there_is_no_change():
    v = _mutate("[{set_attribute: {path: ./devices/interface/source, attribute: bridge, value: br0}}]")
    assert v.output_xml is None


@pytest.mark.parametrize("mode", ["warn", "dryrun"])
def test_mutation_outside_enforce_is_recorded_not_applied(mode):
    v = _mutate("[{set_text: {path: ./description, value: x}}]", mode=mode)
    assert v.output_xml is None
    assert v.decisions[0]["verdict"] == "mutate" and "would be" in v.decisions[0]["message"]


def test_restore_is_a_filter_op_too():
    v = _mutate("[{set_text: {path: ./description, value: x}}]", op="restore")
    assert ET.fromstring(v.output_xml).findtext("description") == "x"


def test_namespaced_metadata_and_special_characters_survive_a_rewrite():
    xml = GUEST.replace("<vcpu>", "<metadata><app:info xmlns:app='urn:x' note='a&amp;b &lt;c&gt;'>"
                        "&quot;q&quot; 'x'</app:info></metadata>\n  <vcpu>")
    v = _mutate("[{set_text: {path: ./description, value: 'a<b & \"c\"'}}]", xml=xml)
    out = v.output_xml
    assert "<app:info xmlns:app='urn:x'" in out
    assert tree_difference(_with_desc(xml, 'a<b & "c"'), ET.fromstring(out)) is None


def _with_desc(xml, text):
    tree = ET.fromstring(xml)
    tree.find("description").text = text
    return tree


def test_deny_rules_see_the_mutated_xml():
    rules = ("- {id: m, match: {op: [migrate]}, mutate: [{replace_prefix: {path: "
             "./devices/disk/source, attribute: file, from: /var/lib/xen/images/, to: /srv/}}]}\n"
             "- {id: d, match: {op: [migrate]}, mode: enforce, message: old path, deny_if: "
             "{regex: {path: ./devices/disk/source/@file, pattern: ^/var/lib/xen/}}}")
    v = run(rules, GUEST, op="migrate")
    assert verdicts(v) == {"m": "mutate", "d": "allow"} and not v.deny


def test_unparsable_input_with_failure_policy_fail_cancels_the_migration():
    v = run("- {id: m, match: {op: [migrate]}, failure_policy: fail, mutate: "
            "[{set_text: {path: ./description, value: x}}]}", "<domain>", op="migrate")
    assert v.deny and "could not be evaluated" in v.reason and v.output_xml is None


def test_libvirt_xml_survives_parse_and_serialize_unchanged(xml_files):
    from hookshim.policy_xml import parse, serialize

    assert xml_files
    for path in xml_files:
        text = path.read_text()
        again = serialize(parse(text))
        assert tree_difference(ET.fromstring(text), ET.fromstring(again)) is None, path

"""Guard rails of `policy lint`, judged by what libvirt does with the hook's exit status."""
import pytest

from app.policy.cli import lint_command
from app.policy.cli import test_command as policy_test_command
from app.policy.compiler import load_text
from app.policy.lint import lint_rules
from tests.policy.helpers import MOVE_IMAGES, NO_HOSTDEV

D = "deny_if: {exists: ./devices/hostdev}, message: m"
M = "mutate: [{set_text: {path: ./description, value: x}}]"

ROWS = [
    # a reconnect deny destroys running guests: refused
    (f"- {{id: r, match: {{op: [reconnect]}}, mode: enforce, {D}}}", "error", "reconnect"),
    # so is started
    (f"- {{id: r, match: {{op: [prepare, started]}}, mode: enforce, {D}}}", "error", "started"),
    # no op restriction means every op, including both
    (f"- {{id: r, mode: enforce, {D}}}", "error",
     "matches every op, including plugged/reconnect/started"),
    # per driver: a qemu-only rule with no op restriction cannot hit network plugged
    (f"- {{id: r, match: {{driver: qemu}}, mode: enforce, {D}}}", "error",
     "matches every op, including reconnect/started"),
    # network plugged during qemu's reconnect destroyed the guest (libvirt 2.2.0)
    (f"- {{id: r, match: {{op: [plugged], driver: network}}, mode: enforce, {D}}}", "error",
     "matches plugged"),
    # bhyve has no reconnect: only started is destructive there
    (f"- {{id: r, match: {{op: [reconnect], driver: bhyve}}, mode: enforce, {D}}}", None, None),
    # the explicit opt-in lets it through
    (f"- {{id: r, match: {{op: [started]}}, mode: enforce, allow_destroy_running: true, {D}}}",
     None, None),
    # warn/dryrun on reconnect cannot destroy anything
    (f"- {{id: r, match: {{op: [reconnect]}}, mode: warn, {D}}}", None, None),
    # a deny on stopped/release does nothing
    (f"- {{id: r, match: {{op: [stopped, release]}}, mode: enforce, {D}}}", "warning",
     "deny on stopped/release has no effect"),
    # nor for the daemon driver
    (f"- {{id: r, match: {{op: [start], driver: daemon}}, mode: enforce, {D}}}", "warning",
     "daemon driver has no effect"),
    # a deny rule without explicit mode enforces at once
    (f"- {{id: r, match: {{op: [prepare]}}, {D}}}", "warning", "roll out with mode: dryrun"),
    # an opt-in that never applies
    (f"- {{id: r, match: {{op: [prepare]}}, mode: enforce, allow_destroy_running: true, {D}}}",
     "warning", "never matches started/reconnect"),
    # mutations need filter ops
    (f"- {{id: r, {M}}}", "error", "filter ops only"),
    (f"- {{id: r, match: {{op: [prepare]}}, {M}}}", "error", "filter ops only"),
    # libxl has no restore filter: refused, not silently dropped at run time
    (f"- {{id: r, match: {{op: [restore], driver: libxl}}, {M}}}", "error", "libxl has no restore filter"),
    (f"- {{id: r, match: {{op: [migrate, restore], driver: [qemu, libxl]}}, {M}}}", "error",
     "libxl has no restore filter"),
    (f"- {{id: r, match: {{op: [restore], driver: qemu}}, {M}}}", None, None),
    # the example rules are clean
    ("- id: move-images\n  match: {op: [migrate]}\n  mutate:\n    - replace_prefix: {path: "
     "\"./devices/disk/source\", attribute: file,\n                       from: "
     "\"/var/lib/xen/images/\", to: \"/srv/images/\"}", None, None),
]


@pytest.mark.parametrize(("text", "level", "message"), ROWS, ids=[str(r[2]) for r in ROWS])
def test_lint_guard_rails(text, level, message):
    rules, findings = load_text(text, "p.yaml")
    assert findings == []
    found = lint_rules([("p.yaml", r) for r in rules])
    if level is None:
        assert found == []
    else:
        assert [f.level for f in found] == [level] and message in found[0].message, found


def test_lint_command_refuses_a_reconnect_deny(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text(ROWS[0][0])
    assert lint_command(tmp_path) == 1
    out = capsys.readouterr().out
    assert "p.yaml [r]: error: enforce deny matches reconnect" in out
    assert "allow_destroy_running: true" in out


def test_example_policies_lint_clean_and_pass_their_tests(capsys):
    from tests.conftest import REPO

    assert lint_command(REPO / "policies") == 0
    assert "warning" not in capsys.readouterr().out
    assert policy_test_command(REPO / "policies") == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and " 0 failed" in out
    assert "note: no case" not in out  # every example rule is exercised by a case


def test_a_failing_case_fails_the_test_command(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text(f"- {{id: r, match: {{op: [prepare]}}, mode: enforce, {D}}}")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yaml").write_text(
        "- name: wrong expectation\n  argv: [libxl, g, prepare, begin, '-']\n"
        "  xml: \"<domain><devices><hostdev/></devices></domain>\"\n  expect: {verdict: allow}\n")
    assert policy_test_command(tmp_path) == 1
    out = capsys.readouterr().out
    assert "verdict: expected allow, got deny" in out
    assert "note: no case" not in out  # the rule did deny in the case


def test_example_rules_deny_hostdev_and_move_images(tmp_path):
    from app.policy.compiler import compile_dir
    from hookshim.policy import evaluate

    (tmp_path / "issue.yaml").write_text(NO_HOSTDEV + MOVE_IMAGES)
    bundle, findings = compile_dir(tmp_path)
    assert findings == []
    xml = ("<domain><name>prod-a</name><devices><disk><source file='/var/lib/xen/images/a.img'/>"
           "</disk><hostdev/></devices></domain>")
    call = {"driver": "libxl", "object": "prod-a", "op": "prepare", "subop": "begin"}
    assert evaluate(bundle, call, xml).reason == (
        "no-hostdev-in-prod: PCI passthrough is not allowed for production guests")
    out = evaluate(bundle, dict(call, op="migrate"), xml).output_xml
    assert "<source file='/srv/images/a.img'/>" in out


def test_a_case_with_a_missing_xml_file_fails_cleanly(tmp_path, capsys):
    (tmp_path / "p.yaml").write_text(f"- {{id: r, match: {{op: [prepare]}}, mode: enforce, {D}}}")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.yaml").write_text(
        "- name: typo in the file name\n  argv: [libxl, g, prepare]\n  xml_file: xml/nope.xml\n"
        "  expect: {verdict: allow}\n")
    assert policy_test_command(tmp_path) == 1
    out = capsys.readouterr().out
    assert "cannot read" in out
    assert "note: no case makes these rules deny or rewrite: r" in out

"""The hook-side evaluator: matching, modes, exemptions, failure policy, guard rails."""
import json
import subprocess

import pytest

from hookshim.policy import Verdict, evaluate
from tests.policy.helpers import GUEST, call, compile_yaml, run, verdicts

HOSTDEV = GUEST.replace("  </devices>", "    <hostdev mode='subsystem' type='pci'/>\n  </devices>")
DENY = "deny_if: {exists: ./devices/hostdev}, message: 'no hostdev for {object} on {host}'"

MATCH_ROWS = [
    # glob on the guest name
    ("{op: [prepare], object: 'prod-*'}", {}, True),
    # the glob does not match another name
    ("{op: [prepare], object: 'prod-*'}", {"object": "dev-web1"}, False),
    # a list of globs: any may match
    ("{op: [prepare], object: [dev-*, '*-web1']}", {}, True),
    # ? and [..] globs
    ("{op: [prepare], object: 'prod-web[0-9]'}", {}, True),
    # glob with a middle segment
    ("{op: [prepare], object: 'p*-*1'}", {}, True),
    # host glob
    ("{op: [prepare], host: 'dom0-rack7-*'}", {}, False),
    ("{op: [prepare], host: 'dom0-?'}", {}, True),
    # driver list
    ("{op: [prepare], driver: [qemu]}", {}, False),
    ("{op: [prepare], driver: [qemu, libxl]}", {}, True),
    # op must be listed
    ("{op: [start]}", {}, False),
    # subop
    ("{op: [prepare], subop: end}", {}, False),
    # regex on the name
    ("{op: [prepare], object_regex: '^prod-web\\d+$'}", {}, True),
    # domain uuid from the call (case-insensitive)
    ("{op: [prepare], domain_uuid: 6F3C1C9E-0D9A-4A53-9F6E-2B8F4F0E7A11}",
     {"domain_uuid": "6f3c1c9e-0d9a-4a53-9f6e-2b8f4f0e7a11"}, True),
    # domain uuid read from the XML when the call has none
    ("{op: [prepare], domain_uuid: [6f3c1c9e-0d9a-4a53-9f6e-2b8f4f0e7a11]}", {}, True),
    ("{op: [prepare], domain_uuid: [00000000-0000-0000-0000-000000000000]}", {}, False),
]


@pytest.mark.parametrize(("match", "over", "denied"), MATCH_ROWS, ids=[r[0] for r in MATCH_ROWS])
def test_match_selects_the_calls_a_rule_sees(match, over, denied):
    v = run(f"- {{id: r, match: {match}, mode: enforce, {DENY}}}", HOSTDEV, **over)
    assert v.deny is denied
    assert bool(v.decisions) is denied  # a rule that does not match leaves no decision


MODE_ROWS = [
    # enforce: refused, the message as the one-line reason, rule id in it
    ("enforce", True, "r: no hostdev for prod-web1 on dom0-a"),
    # warn: allowed, the deny recorded
    ("warn", False, None),
    # dryrun: allowed, the deny recorded
    ("dryrun", False, None),
]


@pytest.mark.parametrize(("mode", "denied", "reason"), MODE_ROWS)
def test_mode_decides_whether_a_deny_refuses(mode, denied, reason):
    v = run(f"- {{id: r, match: {{op: [prepare]}}, mode: {mode}, {DENY}}}", HOSTDEV)
    assert (v.deny, v.reason) == (denied, reason)
    assert v.decisions == [{"rule_id": "r", "mode": mode, "verdict": "deny",
                            "message": "no hostdev for prod-web1 on dom0-a", "error": None}]
    assert v.bundle_version and len(v.bundle_version) == 24


def test_two_denials_give_one_line_naming_the_first():
    rules = f"- {{id: a, match: {{op: [prepare]}}, mode: enforce, {DENY}}}\n" \
            f"- {{id: b, match: {{op: [prepare]}}, mode: enforce, {DENY}}}"
    v = run(rules, HOSTDEV)
    assert v.reason.startswith("a: ") and v.reason.endswith("(and 1 more)")
    assert "\n" not in v.reason


MARKER = ("<metadata>\n    <ha:exempt xmlns:ha='urn:hookaudit:policy' rules='{ids}'/>\n"
          "  </metadata>\n  <vcpu>")

EXEMPT_ROWS = [
    # a guest glob exempts
    ("{object: 'prod-web*'}", HOSTDEV, {}, True),
    # a host glob exempts
    ("{host: [lab-*, dom0-a]}", HOSTDEV, {}, True),
    # the host glob does not cover this host
    ("{host: lab-*}", HOSTDEV, {}, False),
    # the metadata marker naming the rule exempts when the rule honours markers
    ("{marker: true}", HOSTDEV.replace("<vcpu>", MARKER.format(ids="other r")), {}, True),
    # rules='*' exempts from every marker-honouring rule
    ("{marker: true}", HOSTDEV.replace("<vcpu>", MARKER.format(ids="*")), {}, True),
    # a marker for another rule does not
    ("{marker: true}", HOSTDEV.replace("<vcpu>", MARKER.format(ids="other")), {}, False),
    # a rule that does not honour markers ignores them
    ("{object: nobody}", HOSTDEV.replace("<vcpu>", MARKER.format(ids="*")), {}, False),
    # the element in another namespace is not the marker
    ("{marker: true}", HOSTDEV.replace("<vcpu>", MARKER.format(ids="*").replace(
        "urn:hookaudit:policy", "urn:other")), {}, False),
]


@pytest.mark.parametrize(("exempt", "xml", "over", "spared"), EXEMPT_ROWS)
def test_exemptions_spare_a_guest(exempt, xml, over, spared):
    v = run(f"- {{id: r, match: {{op: [prepare]}}, mode: enforce, exempt: {exempt}, {DENY}}}",
            xml, **over)
    assert v.deny is not spared


FAILURE_ROWS = [
    # unparsable XML, default failure_policy ignore: allowed, error recorded
    ("ignore", "enforce", "<domain><name>x</name>", False),
    # failure_policy fail in enforce mode: refused
    ("fail", "enforce", "<domain><name>x</name>", True),
    # fail in dryrun mode only records
    ("fail", "dryrun", "<domain><name>x</name>", False),
    # no XML at all (empty stdin)
    ("fail", "enforce", "", True),
    # a multi-megabyte input is not parsed at all
    ("fail", "enforce", "<domain>" + " " * (4 * 1024 * 1024) + "</domain>", True),
    # a DOCTYPE (entity tricks) is refused like bad XML
    ("ignore", "enforce", "<!DOCTYPE d [<!ENTITY x 'y'>]><domain/>", False),
]


@pytest.mark.parametrize(("policy", "mode", "xml", "denied"), FAILURE_ROWS)
def test_evaluation_errors_follow_the_failure_policy(policy, mode, xml, denied):
    v = run(f"- {{id: r, match: {{op: [prepare]}}, mode: {mode}, failure_policy: {policy}, {DENY}}}",
            xml)
    assert v.deny is denied
    assert verdicts(v) == {"r": "error"}
    assert v.errors and v.errors[0].startswith("r: ")


def test_bad_number_in_the_xml_is_an_evaluation_error():
    xml = GUEST.replace("4194304", "lots")
    v = run("- {id: r, match: {op: [prepare]}, deny_if: {number: {path: ./memory, gt: 1 GiB}}, "
            "message: m}", xml)
    assert not v.deny and "'lots' is not a number" in v.decisions[0]["error"]


def test_regex_refuses_values_beyond_its_input_bound():
    xml = GUEST.replace("web frontend", "x" * 5000)
    v = run("- {id: r, match: {op: [prepare]}, deny_if: {regex: {path: ./description, "
            "pattern: 'a.*b'}}, message: m}", xml)
    assert verdicts(v) == {"r": "error"} and "longer than 4096" in v.errors[0]


def test_hand_edited_bundle_cannot_destroy_a_running_guest():
    bundle = compile_yaml(f"- {{id: r, match: {{op: [prepare]}}, mode: enforce, {DENY}}}")
    bundle["by_op"] = {"reconnect": [0]}  # as if someone edited the JSON on the host
    v = evaluate(bundle, call(op="reconnect", subop="begin"), HOSTDEV)
    assert not v.deny and "guard rail" in v.decisions[0]["error"]


def test_opted_in_rule_may_deny_started():
    rules = f"- {{id: r, match: {{op: [started]}}, mode: enforce, allow_destroy_running: true, {DENY}}}"
    assert run(rules, HOSTDEV, op="started").deny


def test_no_bundle_allows():
    assert evaluate(None, call(), GUEST).__class__ is Verdict
    assert not evaluate(None, call(), GUEST).deny


def test_rules_that_need_no_xml_never_parse_it():
    # garbage XML, but the only matching rule looks at the clock: no error, no parse
    v = run("- {id: r, match: {op: [prepare]}, deny_if: {time: {days: [sun]}}, message: m}",
            "<<<not xml", now=1795608000.0)
    assert v.errors == [] and verdicts(v) == {"r": "allow"}


HEAVY = ("xml.etree.ElementTree", "zoneinfo", "fnmatch", "re", "json", "enum")
PROBE = ("import sys; sys.path.insert(0, sys.argv[2]); from hookshim.policy import load_bundle, "
         "evaluate; v = evaluate(load_bundle(sys.argv[1]), {'op': 'prepare', 'object': 'prod-x'}, "
         "sys.stdin.read()); print(v.deny, [m for m in %r if m in sys.modules])" % (HEAVY,))


def _probe(path):
    # the hook's own interpreter, started the way the launcher starts it
    return subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", PROBE, str(path), str(_repo())],
                          input=HOSTDEV, capture_output=True, text=True, check=True).stdout.strip().split(
                              maxsplit=1)


def test_evaluator_imports_nothing_heavy_once_the_bundle_is_cached(tmp_path):
    bundle = compile_yaml(f"- {{id: r, match: {{op: [prepare], object: 'prod-?'}}, mode: enforce, {DENY}}}\n"
                          "- {id: x, match: {op: [prepare], object_regex: '^prod-'}, mode: warn,"
                          " deny_if: {regex: {path: ./name, pattern: '^prod-.*[0-9]$'}}, message: m}\n"
                          "- {id: t, match: {op: [start]}, deny_if: {time: {tz: Europe/Berlin}},"
                          " message: m}")
    path = tmp_path / "policy-bundle.json"
    path.write_text(json.dumps(bundle))
    assert _probe(path)[0] == "True"             # first call: parses the JSON, writes the cache
    assert (tmp_path / ".policy-bundle.json.cache").exists()
    assert _probe(path) == ["True", "[]"]        # then: marshal + _sre, none of the heavy modules


def test_bundle_cache_follows_the_bundle_file(tmp_path):
    from hookshim.policy import load_bundle

    path = tmp_path / "policy-bundle.json"
    first = compile_yaml(f"- {{id: a, match: {{op: [prepare]}}, mode: enforce, {DENY}}}")
    second = compile_yaml(f"- {{id: b, match: {{op: [prepare]}}, mode: enforce, {DENY}}}")
    path.write_text(json.dumps(first))
    assert load_bundle(str(path))["rules"][0]["id"] == "a"
    tmp = tmp_path / ".new"
    tmp.write_text(json.dumps(second))
    tmp.replace(path)  # how the forwarder installs a bundle
    assert load_bundle(str(path))["rules"][0]["id"] == "b"
    assert not (tmp_path / "..new.cache").exists()  # temp files are never cached


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def test_input_xml_is_parsed_once_for_many_rules(monkeypatch):
    import hookshim.policy_xml as px

    calls = []
    real = px.parse
    monkeypatch.setattr(px, "parse", lambda text: calls.append(1) or real(text))
    rules = "\n".join(f"- {{id: r{i}, match: {{op: [prepare]}}, mode: dryrun, exempt: {{marker: true}}, "
                      f"deny_if: {{count: {{path: ./devices/disk, gt: {i}}}}}, message: m}}"
                      for i in range(12))
    v = run(rules, HOSTDEV)
    assert len(v.decisions) == 12 and len(calls) == 1


@pytest.mark.parametrize("sre", [
    # another CPython's regex format: the pattern is compiled with re instead
    {"magic": 1, "codesize": 4},
    # code the engine refuses is not trusted either
    {"magic": None, "codesize": None, "flags": 32, "code": [99, 99], "groups": 0,
     "groupindex": {}, "indexgroup": [None]},
    # a bundle without shipped code
    None,
])
def test_regex_without_usable_shipped_code_falls_back_to_re(sre):
    import _sre

    bundle = compile_yaml("- {id: r, match: {op: [prepare]}, message: m, mode: enforce, "
                          "deny_if: {regex: {path: ./name, pattern: '^PROD-web[0-9]$', ignore_case: true}}}")
    rx = bundle["rules"][0]["deny_if"][2]
    if sre is not None and sre["magic"] is None:
        sre = dict(sre, magic=_sre.MAGIC, codesize=_sre.CODESIZE)
    rx["sre"] = sre
    rx["pattern"] += "(?#%r)" % (sre,)  # a pattern of its own: no cached compile from other rows
    assert evaluate(bundle, call(), GUEST).deny

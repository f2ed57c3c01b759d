"""Bad policy input gives one clear error naming the file, the rule and the field."""
import pytest

from app.policy.compiler import compile_dir, load_text
from app.policy.paths import PathError, compile_path
from app.policy.regex_guard import RegexError, check_regex

OK = "- {id: r, match: {op: [prepare]}, mode: enforce, deny_if: %s, message: m}"

BAD_ROWS = [
    # not YAML at all: line and column
    ("- id: r\n  match: {op: [prepare]\n", "malformed YAML: line 3"),
    # a mapping where a list of rules is expected
    ("id: r\n", "a policy file is a YAML list of rules"),
    # a duplicated key would silently override the first one in plain YAML
    ("- id: r\n  mode: dryrun\n  mode: enforce\n", "duplicate key 'mode'"),
    # a misspelt field must not silently disable anything
    (OK.replace("message", "mesage") % "{exists: ./x}", "mesage: unknown field"),
    # a misspelt condition name
    (OK % "{exist: ./x}", "deny_if.exist: unknown field"),
    # two conditions in one mapping
    (OK % "{exists: ./a, missing: ./b}", "exactly one of: exists, missing"),
    # an unknown op (typo)
    ("- {id: r, match: {op: [prepar]}, deny_if: {exists: ./x}, message: m}", "unknown op(s) ['prepar']"),
    # an unknown driver
    ("- {id: r, match: {op: [prepare], driver: xen}, deny_if: {exists: ./x}, message: m}",
     "unknown driver(s) ['xen']"),
    # a deny rule with no message would give virsh nothing to show
    ("- {id: r, match: {op: [prepare]}, deny_if: {exists: ./x}}", "needs a message"),
    # a rule doing neither or both
    ("- {id: r, match: {op: [prepare]}, message: m}", "exactly one of deny_if or mutate"),
    # a bad mode
    ("- {id: r, match: {op: [prepare]}, mode: audit, deny_if: {exists: ./x}, message: m}",
     "mode: Input should be 'enforce', 'warn' or 'dryrun'"),
    # rule ids are slugs
    ("- {id: 'No Spaces', match: {op: [prepare]}, deny_if: {exists: ./x}, message: m}", "id: String should match"),
    # catastrophic regexes are refused before they reach a hook
    (OK % "{regex: {path: ./name, pattern: '(a+)+$'}}", "nests quantifiers"),
    (OK % "{regex: {path: ./name, pattern: '(a|aa)*b'}}", "repeats an alternation"),
    (OK % "{regex: {path: ./name, pattern: '.*a.*b.*c'}}", "3 unbounded repeats"),
    (OK % "{regex: {path: ./name, pattern: '(x)\\1'}}", "backreference"),
    (OK % "{regex: {path: ./name, pattern: '[a-'}}", "invalid regex"),
    # huge numbers: beyond libvirt's 64-bit sizes
    (OK % "{number: {path: ./memory, gt: 99999999999 EiB}}", "larger than 2^64 bytes"),
    (OK % "{number: {path: ./vcpu, gt: 99999999999999999999999}}", "too large"),
    (OK % "{number: {path: ./vcpu, gt: .inf}}", "finite"),
    # unit typos
    (OK % "{number: {path: ./memory, gt: 64 GiBs}}", "unknown unit 'GiBs'"),
    (OK % "{number: {path: ./memory, unit: kilobytes, gt: 64}}", "unknown unit 'kilobytes'"),
    (OK % "{number: {path: ./memory, gt: lots}}", "is not a number with an optional unit"),
    (OK % "{number: {path: ./memory}}", "at least one of gt"),
    # a bad path
    (OK % "{exists: './devices/disk[@device=disk]'}", "unsupported predicate"),
    (OK % "{exists: /devices}", "absolute path"),
    # time windows
    (OK % "{time: {days: [someday]}}", "unknown day(s)"),
    (OK % "{time: {from: '25:00'}}", "is not a time of day"),
    (OK % "{time: {tz: Mars/Olympus}}", "unknown time zone"),
    # a glob that would need a slow regex at the hook
    ("- {id: r, match: {op: [prepare], object: 'a*b*c*?'}, deny_if: {exists: ./x}, message: m}",
     "glob 'a*b*c*?' is too complex"),
    # absurd nesting
    (OK % ("{not: " * 20 + "{exists: ./x}" + "}" * 20), "deeper than 16 levels"),
    # a count bound must be a whole number
    (OK % "{count: {path: ./devices/disk, gt: 1.5}}", "whole number"),
]


@pytest.mark.parametrize(("text", "message"), BAD_ROWS, ids=[r[1] for r in BAD_ROWS])
def test_bad_policy_gives_a_clear_error(text, message):
    rules, findings = load_text(text, "bad.yaml")
    errors = [str(f) for f in findings if f.level == "error"]
    assert rules == [] and errors, findings
    assert any(message in e for e in errors), errors
    assert all(e.startswith("bad.yaml") for e in errors)


def test_times_of_day_stay_strings_in_yaml():
    # plain YAML 1.1 reads 22:00 as the base-60 integer 1320
    rules, findings = load_text(OK % "{time: {from: 22:00, to: 23:00}}", "t.yaml")
    assert findings == [] and rules[0].deny_if.time.from_ == "22:00"


def test_yes_no_on_off_stay_strings_in_yaml():
    # plain YAML 1.1 reads `message: no` as false
    rules, findings = load_text("- {id: r, match: {op: [prepare]}, mode: enforce, "
                                "deny_if: {equals: {path: ./x, value: [on, off, yes]}}, message: no}",
                                "t.yaml")
    assert findings == [] and rules[0].message == "no"
    assert rules[0].deny_if.equals.value == ["on", "off", "yes"]


def test_duplicate_rule_ids_across_files_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text(OK % "{exists: ./x}")
    (tmp_path / "b.yml").write_text(OK % "{exists: ./y}")
    bundle, findings = compile_dir(tmp_path)
    assert bundle is None and any("duplicate rule id (also in a.yaml)" in str(f) for f in findings)


def test_same_policies_give_the_same_version(tmp_path):
    (tmp_path / "a.yaml").write_text(OK % "{exists: ./x}")
    first, _ = compile_dir(tmp_path)
    again, _ = compile_dir(tmp_path)
    (tmp_path / "a.yaml").write_text(OK % "{exists: ./y}")
    changed, _ = compile_dir(tmp_path)
    assert first["version"] == again["version"] != changed["version"]


PATH_ROWS = [
    # bare name is a child of <domain>
    ("memory", {"steps": [["child", "memory", []]], "attr": None}),
    # // is the descendant axis; final @attr
    (".//source/@file", {"steps": [["desc", "source", []]], "attr": "file"}),
    # predicates in order
    ("./devices/disk[@device='disk'][2]", {"steps": [["child", "devices", []], ["child", "disk", [
        ["attr_eq", "device", "disk"], ["pos", 2]]]], "attr": None}),
    # child predicates and != on attributes
    ("./devices/interface[model][@type!=\"user\"]", {"steps": [["child", "devices", []], [
        "child", "interface", [["has_child", "model"], ["attr_ne", "type", "user"]]]], "attr": None}),
    # the document element itself
    (".", {"steps": [], "attr": None}),
]


@pytest.mark.parametrize(("path", "compiled"), PATH_ROWS)
def test_paths_compile_to_steps(path, compiled):
    assert compile_path(path) == compiled


@pytest.mark.parametrize("path", ["./a[", "./a/@b/c", "./a[0]", "", "./a b"])
def test_bad_paths_are_refused(path):
    with pytest.raises(PathError):
        compile_path(path)


REGEX_ROWS = [
    # no unbounded repeat: long inputs allowed
    ("^prod-", 4096),
    # one unbounded repeat: quadratic at worst, 4096 characters
    (r"^/var/lib/(xen|libvirt)/images/[^/]+\.img$", 4096),
    # two: cubic at worst, inputs bounded to 256 characters
    (r"^prod-.*-db.*$", 256),
    # bounded repeats do not count
    (r"^[a-z]{1,20}-\d{1,4}$", 4096),
]


@pytest.mark.parametrize(("pattern", "bound"), REGEX_ROWS)
def test_regex_input_bound_follows_its_repeats(pattern, bound):
    assert check_regex(pattern) == bound


@pytest.mark.parametrize("pattern", [r"(\d+)*x", r"(a{1,200}){2}", r"(?:ab|a)+c", r"(.*)+"])
def test_catastrophic_regexes_are_refused(pattern):
    with pytest.raises(RegexError):
        check_regex(pattern)

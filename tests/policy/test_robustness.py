"""Property tests: no input makes lint, the evaluator or the draft API crash."""
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.policy.compiler import load_text
from hookshim.policy import evaluate
from tests.policy.helpers import GUEST, call, compile_yaml

KEYS = st.sampled_from(["id", "match", "op", "mode", "deny_if", "mutate", "message", "exists",
                        "number", "path", "gt", "regex", "pattern", "all", "not", "time", "from",
                        "object", "exempt", "marker", "set_text", "value", "unit"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["prepare", "./devices/disk", "64 GiB",
                                                           "(a+)+", "enforce", "22:00", "r"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)
FAST = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@FAST
@given(rules=st.lists(st.dictionaries(KEYS, VALUES, max_size=5), max_size=3))
def test_lint_turns_any_structure_into_findings(rules):
    parsed, findings = load_text(json.dumps(rules), "fuzz.yaml")  # JSON is YAML
    assert all(f.level in ("error", "warning") for f in findings)


@FAST
@given(text=st.text(max_size=200))
def test_lint_survives_any_text(text):
    load_text(text, "fuzz.yaml")


BUNDLE = compile_yaml("""
- {id: a, match: {op: [prepare]}, mode: enforce, message: m, exempt: {marker: true},
   deny_if: {any: [{exists: ./devices/hostdev}, {number: {path: ./memory, gt: 1 GiB}},
                   {regex: {path: ./devices/disk/source/@file, pattern: "^/tmp/"}},
                   {count: {path: .//disk, gt: 2}}]}}
- {id: w, match: {op: [prepare]}, mode: warn, message: m, deny_if: {time: {tz: Europe/Berlin}}}
""")
MIGRATE = compile_yaml("""
- {id: m, match: {op: [migrate]}, mutate: [{replace_prefix: {path: .//source, attribute: file,
   from: /var/, to: /srv/}}, {remove_element: {path: ./devices/interface}}]}
""")


@FAST
@given(xml=st.one_of(st.text(max_size=300),
                     st.builds(lambda a, b: GUEST[:a] + GUEST[b:],
                               st.integers(0, len(GUEST)), st.integers(0, len(GUEST)))))
def test_evaluator_never_raises_on_any_input(xml):
    v = evaluate(BUNDLE, call(), xml)
    assert isinstance(v.deny, bool) and all(d["verdict"] in ("allow", "deny", "error")
                                            for d in v.decisions)
    out = evaluate(MIGRATE, call(op="migrate"), xml).output_xml
    if out is not None:
        from hookshim.policy_xml import parse

        parse(out)  # any rewrite the hook prints parses

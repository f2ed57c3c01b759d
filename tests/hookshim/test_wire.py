"""wire.dumps must be byte-identical to the json.dumps call the event contract specifies."""
import json

from hypothesis import given, settings, strategies as st

from hookshim import wire
from hookshim.event import canonical_bytes
from tests.hookshim.helpers import hook_event


def reference(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_dumps_matches_json_for_any_json_value(value):
    assert wire.dumps(value) == reference(value)


def test_dumps_matches_json_for_a_full_event():
    ev = hook_event(object="g\u00e9st\udcff", stderr='line "1"\n\ttab\x01', duration_ms=0.1 + 0.2,
                    scripts=[{"path": "/x", "exit_code": -9, "timed_out": True}])
    assert wire.dumps(ev) == reference(ev)


def test_tuples_encode_as_lists_and_odd_values_fall_back_to_json():
    assert wire.dumps({"a": (1, 2)}) == '{"a":[1,2]}'
    assert wire.dumps({1: "x"}) == reference({1: "x"})


def test_canonical_bytes_equal_the_contract_definition():
    ev = hook_event(hash="h" * 64)
    body = {k: v for k, v in ev.items() if k not in ("hash", "xml", "output_xml")}
    assert canonical_bytes(ev) == reference(body).encode("utf-8")


def test_sha256_hex_matches_hashlib():
    import hashlib

    assert wire.sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()


# Strings built from exactly the characters each escaping path decides on: control
# characters (short and \u00XX escapes), quote, backslash, DEL, U+2028, a soft hyphen
# (not printable, not escaped), a lone surrogate, plain ASCII and non-ASCII.
tricky_text = st.lists(st.sampled_from(list('ab "\\\n\r\t\b\f\x00\x01\x1f\x7f\u2028\xad\udcffé'))
                       | st.text(max_size=3), max_size=30).map("".join)


@settings(max_examples=1000, deadline=None)
@given(tricky_text)
def test_string_escaping_matches_json(text):
    assert wire.dumps(text) == json.dumps(text, ensure_ascii=False)
    assert wire.dumps({text: [text]}) == reference({text: [text]})


def test_a_large_xml_body_escapes_like_json():
    xml = "<domain type='kvm'>\n  <name>a \"b\" \\ c</name>\n\t<x/>\r\n" * 400 + "\x01"
    assert wire.dumps(xml) == json.dumps(xml, ensure_ascii=False)
    assert wire.dumps(xml[:-1]) == json.dumps(xml[:-1], ensure_ascii=False)

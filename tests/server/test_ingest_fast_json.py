"""Ingest's fast JSON path (orjson parse, orjson canonical form, one-call batch validation,
binary COPY) changes nothing the contract pins: property tests against the stdlib code it
replaces, and the edge cases it hands back to that code."""
import json
from datetime import datetime

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.models import Event
from app.services import ingest_validate as iv
from app.services.bulk import member_of
from app.services.errors import Invalid
from app.services.ingest_validate import canonical, parse_batch
from app.timeutil import iso
from hookshim.event import canonical_bytes
from tests.factories import make_chain, make_event, post_events

INT64 = 2**63 - 1
JSON_HEADERS = {"content-type": "application/json"}


def stdlib_parse(body: bytes):
    """What parse_batch did before the fast path (and still does when it steps aside)."""
    return json.loads(body, parse_constant=iv._no_constant, parse_float=iv._finite)


def same(a, b) -> bool:
    """Equal with the same types all the way down (1 and 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


leaves = (st.none() | st.booleans() | st.integers()
          | st.integers(min_value=-(2**80), max_value=2**80)
          | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(
    leaves, lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4), max_leaves=25)
FAST = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(value=json_values, ascii_only=st.booleans())
def test_parse_batch_gives_exactly_what_the_stdlib_gives(value, ascii_only):
    try:
        body = json.dumps({"events": [value]}, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:   # a lone surrogate cannot be UTF-8 on the wire
        return
    assert same(list(parse_batch(body, 10)), stdlib_parse(body)["events"])


@FAST
@given(extra=json_values, duration=st.floats(min_value=0, allow_infinity=False),
       script_ms=st.floats(min_value=0, allow_infinity=False))
def test_canonical_form_is_byte_identical_to_canonical_bytes(extra, duration, script_ms):
    event = make_event(duration_ms=duration, x_extra=extra, scripts=[
        {"path": "/etc/libvirt/hooks/qemu.d/x", "exit_code": 0, "duration_ms": script_ms,
         "stderr": None, "timed_out": False}])
    try:
        expected = canonical_bytes(event)
    except UnicodeEncodeError:
        with pytest.raises(UnicodeEncodeError):
            canonical(event)
        return
    assert canonical(event) == expected                  # a dict built in Python
    body = json.dumps({"events": [event]}).encode()     # the same event off the wire
    parsed = parse_batch(body, 10)
    plain = isinstance(parsed, iv.PlainEvents)
    assert canonical(parsed[0], plain) == canonical_bytes(stdlib_parse(body)["events"][0])


@settings(max_examples=2000, deadline=None)
@given(st.floats(min_value=iv._FLOAT_LO, max_value=iv._FLOAT_HI, exclude_max=True)
       | st.floats(min_value=-iv._FLOAT_HI, max_value=-iv._FLOAT_LO, exclude_min=True))
def test_floats_in_the_fast_range_are_written_alike(value):
    assert orjson.dumps(value) == json.dumps(value).encode()


@settings(max_examples=2000, deadline=None)
@given(st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30}([eE][+-]?[0-9]{1,3})?"
                     r"|[eE][+-]?[0-9]{1,3})", fullmatch=True))
def test_float_literals_are_read_alike(text):
    expected = float(text)
    try:
        assert orjson.loads(text) == expected
    except orjson.JSONDecodeError:   # 1e999: orjson refuses what json reads as inf
        assert expected in (float("inf"), float("-inf"))


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999",
                                    b"1E400", b"1" + b"0" * 400 + b".0"])
def test_non_finite_numbers_are_invalid_json(client, host_a, number):
    body = json.dumps({"events": [make_event(duration_ms=1.5)]}).encode()
    body = body.replace(b'"duration_ms": 1.5', b'"duration_ms": ' + number)
    r = client.post("/api/v1/ingest", content=body, headers={**host_a.headers, **JSON_HEADERS})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json", r.text


@pytest.mark.parametrize("body, code", [
    (b'{"events": [{"reason": "\xff"}]}', "invalid_json"),            # not UTF-8
    # json.loads reads an encoded surrogate (surrogatepass); the event is then refused
    (b'{"events": [{"reason": "\xed\xa0\x80"}]}', "validation_error"),
    (b'{"events": ' + b"[" * 100000 + b"]" * 100000 + b"}", "invalid_json"),  # was a 500
])
def test_malformed_bodies_are_422_never_500(client, host_a, body, code):
    r = client.post("/api/v1/ingest", content=body, headers={**host_a.headers, **JSON_HEADERS})
    assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text


def test_integer_past_64_bits_is_an_integer_not_a_float(client, host_a):
    # orjson would read it as a float; the stdlib reads it, so the message names the bound.
    r = post_events(client, host_a, [make_event(seq=2**70)])
    assert r.status_code == 422
    (detail,) = r.json()["error"]["details"]
    assert detail["field"] == "seq" and str(INT64) in detail["message"], detail


def test_unusual_values_in_extra_fields_are_stored_with_an_intact_chain(client, host_a):
    extras = {"x_big": 2**70, "x_neg": -(2**70), "x_tiny": 1.5e-7, "x_huge": 1e300,
              "x_u": "gäst ☃ 𝄞 \u2028 \x7f", "x_nested": [[[{"a": 1e-5}]]]}
    events = make_chain("host-a", 3, **extras)
    r = post_events(client, host_a, events)
    assert r.status_code == 200 and r.json()["chain_problems"] == [], r.text


def test_duplicate_keys_keep_the_last_value_as_before(app, client, host_a):
    event = make_event(op="prepare")
    body = json.dumps({"events": [event]}).encode().replace(
        b'"op": "prepare"', b'"op": "bogus", "op": "prepare"')
    assert same(list(parse_batch(body, 10)), stdlib_parse(body)["events"])
    r = client.post("/api/v1/ingest", content=body, headers={**host_a.headers, **JSON_HEADERS})
    assert r.status_code == 200 and r.json()["chain_problems"] == [], r.text


def test_a_utf8_bom_is_accepted_as_before(client, host_a):
    body = b"\xef\xbb\xbf" + json.dumps({"events": [make_event()]}).encode()
    r = client.post("/api/v1/ingest", content=body, headers={**host_a.headers, **JSON_HEADERS})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("field, message", [
    ("reason", "unable to parse raw data as a unicode string"),   # pydantic refuses it
    ("x_extra", "not canonically encodable"),                      # the canonical form does
])
def test_lone_surrogate_is_named_as_before(client, host_a, field, message):
    body = json.dumps({"events": [make_event(x_extra=None)]}).encode().replace(
        f'"{field}": null'.encode(), f'"{field}": "bad \\udc80"'.encode())
    r = client.post("/api/v1/ingest", content=body, headers={**host_a.headers, **JSON_HEADERS})
    assert r.status_code == 422
    (detail,) = r.json()["error"]["details"]
    assert detail["index"] == 0 and message in detail["message"], detail
    assert detail["field"] == (field if field == "reason" else "")


def test_batch_validation_names_every_bad_event_and_field(client, host_a):
    events = make_chain("host-a", 4)
    events[1]["started_at"] = "2026-11-25T18:13:46.123456+01:00"   # valid ISO, not UTC
    events[3]["seq"] = "4"
    r = post_events(client, host_a, events)
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert [(d["index"], d["field"]) for d in details] == [(1, "started_at"), (3, "seq")]
    assert "must be UTC" in details[0]["message"]
    assert details[1]["message"] == "Input should be a valid integer"


def test_batch_check_model_mirrors_wire_event():
    model = iv._batch_model()
    assert model is not iv.WireEvent and model.model_config["strict"] is True
    assert list(model.model_fields) == list(iv.WireEvent.model_fields)
    for name, field in iv.WireEvent.model_fields.items():
        assert model.model_fields[name].metadata == field.metadata, name
    with pytest.raises(Invalid):   # prepare refuses what the dropped validator refused
        iv.check_batch([make_event(started_at="2026-11-25T18:13:46")], "host-a")


def test_binary_copy_stores_every_column_as_sent(app, client, host_a):
    at = datetime(2026, 11, 25, 18, 13, 46, 123456)
    event = make_event(at=at, duration_ms=7, exit_code=1 - 2**31, redactions=2**31 - 1,
                       object="gäst-☃-𝄞", stderr="line\n\ttab 😀", reason="r",
                       warnings=["w1", "wä"], scripts=[{"path": "/p", "exit_code": 1,
                                                       "duration_ms": 0.5, "stderr": "e",
                                                       "timed_out": True}],
                       shim={"version": "0.9", "hostname": "h", "pid": 0})
    r = post_events(client, host_a, [event])
    assert r.status_code == 200 and r.json()["chain_problems"] == [], r.text
    with app.state.db.session() as s:
        row = s.scalars(select(Event).where(Event.event_id == event["event_id"])).one()
        assert (row.duration_ms, row.exit_code, row.redactions) == (7.0, 1 - 2**31, 2**31 - 1)
        assert (row.object, row.stderr, row.reason) == (event["object"], event["stderr"], "r")
        assert (row.warnings, row.scripts) == (event["warnings"], event["scripts"])
        assert (row.shim_version, row.shim_hostname, row.shim_pid) == ("0.9", "h", 0)
        assert row.canonical == canonical_bytes(event) and row.chain_ok is True
        assert iso(row.started_at) == event["started_at"]


def test_member_of_matches_values_with_commas_exactly(app, client, host_a):
    events = make_chain("host-a", 2)
    post_events(client, host_a, events)
    ids = [events[0]["event_id"], f"{events[1]['event_id']},x", ""]
    with app.state.db.session() as s:
        found = s.scalars(select(Event.event_id).where(member_of(s, Event.event_id, ids))).all()
        assert found == [events[0]["event_id"]]   # not cut to varchar(36) to match events[1]
        longer = [events[0]["event_id"] + "0"]    # one text parameter: not cut either
        assert s.scalars(select(Event.event_id).where(member_of(s, Event.event_id, longer))).all() == []
        found = s.scalars(select(Event.event_id).where(
            member_of(s, Event.event_id, [e["event_id"] for e in events]))).all()
        assert sorted(found) == sorted(e["event_id"] for e in events)


def test_ingest_answer_has_the_bytes_json_response_would_send():
    from fastapi.responses import JSONResponse

    from app.api.ingest import json_response
    content = {"stored": 1, "duplicates": 1, "results": [
        {"event_id": "0193abcd-1234-7abc-8def-0123456789ab", "status": "stored"},
        {"event_id": "0193abcd-1234-7abc-8def-0123456789ac", "status": "duplicate"}],
        "gaps": [[3, 4], [9, 2**63 - 1]], "chain_problems": [
            {"event_id": "0193abcd-1234-7abc-8def-0123456789ab", "seq": 2,
             "problem": "prev_hash does not link to the event with seq 1"}]}
    fast, slow = json_response(content), JSONResponse(content)
    assert fast.body == slow.body
    assert fast.headers["content-type"] == slow.headers["content-type"]

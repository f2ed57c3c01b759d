"""One set of limits: whatever the shim spools from hostile argv/stdin, the server accepts.

Both sides in one test: the event goes through the shim's own builder (call_event.build_event)
and spool (Spool.append fits it to hookshim/limits.py, then hashes it), and then through the
server's validation (ingest_validate.check_batch) and own-hash check.
"""
import os
import tempfile

from hypothesis import HealthCheck, given, settings, strategies as st

from app.schemas import WireEvent
from app.services.ingest import own_problems
from app.services.ingest_validate import check_batch
from hookshim import limits
from hookshim.call_event import build_event
from hookshim.hook import Answer, Call
from hookshim.scripts import Result
from hookshim.spool import Spool

hostile_text = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40).map(os.fsdecode),                 # argv bytes that are not UTF-8
    st.builds(lambda c, n: c * n, st.characters(), st.integers(0, 120_000)),  # very long
)
hostile_bytes = st.one_of(st.binary(max_size=300),
                          st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=3),
                                    st.integers(0, 50_000)))


def shim_event(args, stdin, reason, stdout, warnings, scripts):
    call = Call(args[0] if args else "qemu", list(args[1:]))
    call.data = stdin
    call.warnings.extend(warnings)
    call.results = [Result(p, 1, 1.0, s, False, b"") for p, s in scripts]
    answer = Answer(1 if reason else 0, reason, stdout)
    event = build_event(call, None, answer)
    with tempfile.TemporaryDirectory() as tmp, Spool(os.path.join(tmp, "spool.db")) as sp:
        return sp.append(event)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.data_too_large])
@given(args=st.lists(hostile_text, max_size=7), stdin=hostile_bytes,
       reason=st.one_of(st.none(), hostile_text), stdout=hostile_bytes,
       warnings=st.one_of(st.lists(hostile_text, max_size=3),
                          st.integers(0, 1500).map(lambda n: ["w%d" % i for i in range(n)])),
       scripts=st.lists(st.tuples(hostile_text, st.one_of(st.none(), hostile_text)),
                        max_size=3))
def test_every_event_the_shim_spools_is_accepted_by_the_server(args, stdin, reason, stdout,
                                                                warnings, scripts):
    stored = shim_event(args, stdin, reason, stdout, warnings, scripts)
    (prepared,) = check_batch([stored], stored["host"])   # raises ApiError(422) if refused
    assert own_problems(prepared) == []


def test_a_100000_character_object_is_cut_and_says_so():
    stored = shim_event(["qemu", "g" * 100_000, "", "-", "-"], b"", None, b"", [], [])
    assert len(stored["object"]) == limits.OBJECT and stored["op"] == limits.EMPTY
    assert any("object cut from 100000" in w for w in stored["warnings"])
    assert any("op was empty" in w for w in stored["warnings"])
    check_batch([stored], stored["host"])


def test_xml_past_the_server_limit_is_cut_and_marked():
    event = shim_event(["qemu", "g", "start", "begin", "-"], b"<domain/>", None, b"", [], [])
    event["xml"] = "x" * (limits.XML + 10)
    limits.fit_event(event)
    assert len(event["xml"]) == limits.XML and event["xml_truncated"] is True
    assert any("xml cut from" in w for w in event["warnings"])
    WireEvent.model_validate(event)   # the server's model takes it (the hash is not checked)


def test_a_domain_uuid_the_server_refuses_is_dropped():
    xml = b"<domain><uuid>not-a-uuid</uuid></domain>"
    stored = shim_event(["qemu", "g", "start", "begin", "-"], xml, None, b"", [], [])
    assert stored["domain_uuid"] is None
    check_batch([stored], stored["host"])

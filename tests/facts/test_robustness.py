"""Whatever a host sends, extraction and drift answer with a result or FactsError, never another
exception: fixtures cut anywhere (the shim's stdin cap), characters changed anywhere, and
values of every odd shape in the attributes facts are read from."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.facts import FactsError, extract_facts
from app.facts.drift import definition_drift
from tests.facts.helpers import FIXTURES

TEXTS = [p.read_text() for p in sorted(FIXTURES.glob("*.xml"))]
FUZZ = settings(max_examples=100, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _facts_or_facts_error(text):
    try:
        definition_drift(text, text)
    except FactsError:
        pass
    try:
        return extract_facts(text)
    except FactsError:
        return None


@FUZZ
@given(st.sampled_from(TEXTS), st.integers(0, 8000))
def test_a_document_cut_anywhere_is_facts_error_or_facts(text, cut):
    _facts_or_facts_error(text[:cut])


@FUZZ
@given(st.sampled_from(TEXTS), st.integers(0, 8000), st.text(max_size=3))
def test_a_document_changed_anywhere_is_facts_error_or_facts(text, at, insert):
    _facts_or_facts_error(text[:at] + insert + text[at + 1:])


ODD = st.one_of(st.text(max_size=8), st.sampled_from(
    ["-1", "0", "²", "٣", "0x", "0x1G", "99999999999999999999", " ", "[redacted]", "::", "1e3"]))


@FUZZ
@given(ODD, ODD, ODD, ODD)
def test_odd_attribute_values_never_crash_extraction(a, b, c, d):
    from xml.sax.saxutils import quoteattr
    q = [quoteattr(v) for v in (a, b, c, d)]
    xml = ("<domain><memory unit=%s>%s</memory><vcpu>%s</vcpu><devices>"
           "<interface type='network'><mac address=%s/><source network=%s/><ip address=%s/>"
           "</interface>"
           "<disk type='network'><source protocol=%s name=%s><host name=%s port=%s/></source>"
           "</disk><disk type='nvme'><source namespace=%s><address bus=%s slot=%s/></source>"
           "</disk><hostdev type='pci'><source><address domain=%s bus=%s slot=%s function=%s/>"
           "</source></hostdev><hostdev type='usb'><source><vendor id=%s/><product id=%s/>"
           "<address bus=%s device=%s/></source></hostdev>"
           "<graphics type='vnc' port=%s tlsPort=%s websocket=%s/></devices></domain>"
           % (q[0], a.replace("<", "").replace("&", ""), b.replace("<", "").replace("&", ""),
              *(q * 6)[:21]))
    _facts_or_facts_error(xml)


@pytest.mark.parametrize("text", TEXTS[:1])
def test_drift_of_a_cut_document_is_facts_error(text):
    with pytest.raises(FactsError):
        definition_drift(text, text[: len(text) // 2])

"""Outcome sentences and XML display: pure functions, tables."""
import pytest

from app.web.explain import explain
from app.web.xmlview import diff_lines, highlight_redactions, pretty_xml, xml_html


@pytest.mark.parametrize("event,words", [
    # the 03:00 question: a refused start must say so in the first words
    ({"driver": "libxl", "op": "prepare", "outcome": "aborted"}, "start refused: libvirt aborted the guest start"),
    ({"driver": "qemu", "op": "start", "outcome": "aborted"}, "start refused"),
    # started failing destroys a running guest
    ({"driver": "libxl", "op": "started", "outcome": "killed"}, "guest killed"),
    # reconnect after a libvirtd restart
    ({"driver": "libxl", "op": "reconnect", "outcome": "killed"}, "after a libvirtd restart"),
    # libxl 9.0+: a failed reconnect drops the domain from libvirt, Xen keeps running it
    ({"driver": "libxl", "op": "reconnect", "outcome": "aborted"}, "guest dropped"),
    # network updated: applied before the hook ran, nothing rolled back
    ({"driver": "network", "op": "updated", "outcome": "failed_ignored"}, "nothing was rolled back"),
    # the migrate filter cancels the incoming migration
    ({"driver": "libxl", "op": "migrate", "outcome": "aborted", "object": "web1"},
     "incoming migration cancelled: the migrate filter refused web1"),
    # release failures are logged by libvirt and otherwise ignored
    ({"driver": "qemu", "op": "release", "outcome": "failed_ignored"}, "libvirt ignores this"),
    # network driver says network, not guest
    ({"driver": "network", "op": "start", "outcome": "aborted"}, "network start refused"),
    # daemon hooks never change anything
    ({"driver": "daemon", "op": "-", "subop": "shutdown", "outcome": "failed_ignored"}, "ignored"),
    # an op we have no sentence for still gets a generic one
    ({"driver": "qemu", "op": "frobnicate", "outcome": "timed_out"}, "ran past its time limit"),
    # spool overflow marker
    ({"kind": "overflow", "dropped": 12}, "12 hook calls were answered but their details were not recorded"),
])
def test_explain_says_what_libvirt_did(event, words):
    assert words in explain(event)


def test_redaction_placeholders_are_marked_and_text_escaped():
    html = str(highlight_redactions("<graphics passwd='[REDACTED]'/></script>"))
    assert '<mark class="redacted"' in html and "[REDACTED]</mark>" in html
    assert "</script>" not in html and "&lt;/script&gt;" in html


def test_xml_with_script_close_tag_is_escaped():
    html = str(xml_html("<domain><description></script><script>alert(1)</script></description></domain>"))
    assert "<script" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("text,expect_lines", [
    ("<domain><name>a</name></domain>", 3),              # one-line XML gets indented
    ("<domain>\n  <name>a</name>\n  <uuid>x</uuid>\n</domain>", 4),  # libvirt's own format kept
    ("<domain><unclosed>", 1),                            # broken XML shown as sent
    ("", 0),
])
def test_pretty_xml(text, expect_lines):
    assert len([ln for ln in pretty_xml(text).splitlines() if ln]) == expect_lines


def test_diff_shows_the_rewritten_disk_path():
    before = "<domain>\n  <disk>\n    <source file='/old/a.img'/>\n  </disk>\n</domain>"
    after = before.replace("/old/", "/new/")
    rows = diff_lines(before, after)
    assert ("del", "-    <source file='/old/a.img'/>") in rows
    assert ("add", "+    <source file='/new/a.img'/>") in rows


def test_no_diff_when_filter_kept_the_xml():
    assert diff_lines("<a/>", "<a/>") == []

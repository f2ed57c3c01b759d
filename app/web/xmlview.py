"""Show domain XML safely: pretty-printed, escaped, redactions highlighted, filter diffs.

Pure functions returning ``Markup``: every character from the host is escaped first, and only
then wrapped in our own ``<span>`` elements.
"""
from __future__ import annotations

import difflib
import re
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from markupsafe import Markup, escape

# What hookshim's redaction leaves in place of a secret (matched case-insensitively), plus the
# generic forms other redactors use; kept loose on purpose: missing a highlight is worse.
REDACTION_RE = re.compile(r"\[?\*{0,3}REDACTED[^\s\"'<>\]]*\*{0,3}\]?", re.IGNORECASE)
DISPLAY_MAX = 2 * 1024 * 1024     # bigger bodies are cut for display (the API has all of it)


def pretty_xml(text: str | None) -> str:
    """Indent one-line XML; leave already formatted XML (libvirt's own output) untouched."""
    if not text:
        return ""
    if text.count("\n") > 2 or len(text) > DISPLAY_MAX:
        return text
    try:
        pretty = minidom.parseString(text.encode("utf-8")).toprettyxml(indent="  ")
    except (ExpatError, ValueError):
        return text                     # show what the host sent, even if it does not parse
    lines = [ln for ln in pretty.splitlines() if ln.strip()]
    return "\n".join(lines[1:] if lines and lines[0].startswith("<?xml") else lines)


def highlight_redactions(text: str) -> Markup:
    """Escape ``text`` and mark every redaction placeholder visibly."""
    out, pos = [], 0
    for m in REDACTION_RE.finditer(text):
        out.append(escape(text[pos:m.start()]))
        out.append(Markup('<mark class="redacted" title="value removed by the shim">%s</mark>')
                   % m.group(0))
        pos = m.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out)


# Tags in the displayed XML, in document order (attribute values may hold ">"); comments,
# CDATA, processing instructions and a DOCTYPE are skipped whole.
TAG_RE = re.compile(r"""<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<!DOCTYPE[^>]*>"""
                    r"""|</[^>]*>"""
                    r"""|<[^\s/>!?][^\s/>]*(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>""",
                    re.DOTALL)


def element_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every element of ``text``, in document order (the order of
    app/policy/matched.element_indexes); elements left open at the end get no span."""
    spans: list = []
    stack: list = []
    for m in TAG_RE.finditer(text):
        tag = m.group(0)
        if tag.startswith(("<!", "<?")):
            continue
        if tag.startswith("</"):
            if stack:
                i = stack.pop()
                spans[i] = (spans[i][0], m.end())
            continue
        spans.append((m.start(), m.end() if tag.endswith("/>") else None))
        if not tag.endswith("/>"):
            stack.append(len(spans) - 1)
    return [(a, b if b is not None else -1) for a, b in spans]


def xml_html(text: str | None, marks: dict | None = None) -> Markup:
    """The XML for display; ``marks`` ({element index: [rule id, ...]}, from
    app/policy/matched.py) wraps those elements in ``<mark class="matched" id="match-N">``
    (an element inside a marked one is covered by its ancestor's mark)."""
    body = pretty_xml(text)
    cut = len(body) > DISPLAY_MAX
    if cut:
        body = body[:DISPLAY_MAX]
    out, pos, n = [], 0, 0
    if marks:
        spans = element_spans(body)
        for i in sorted(marks):
            if i >= len(spans) or spans[i][1] < 0 or spans[i][0] < pos:
                continue                       # past the cut, or inside an earlier mark
            start, end = spans[i]
            n += 1
            out.append(highlight_redactions(body[pos:start]))
            out.append(Markup('<mark class="matched" id="match-%d" title="matched rule %s">')
                       % (n, ", ".join(marks[i])))
            out.append(highlight_redactions(body[start:end]))
            out.append(Markup("</mark>"))
            pos = end
    out.append(highlight_redactions(body[pos:]))
    if cut:
        out.append(escape("\n… (cut for display)"))
    return Markup("").join(out)


def diff_lines(before: str | None, after: str | None) -> list[tuple[str, str]]:
    """Unified diff as (kind, line) rows: kind is add | del | hunk | ctx."""
    a = pretty_xml(before).splitlines()
    b = pretty_xml(after).splitlines()
    rows = []
    for line in difflib.unified_diff(a, b, "input", "output", n=2, lineterm=""):
        kind = ("hunk" if line.startswith("@@") else "head" if line[:3] in ("---", "+++")
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx")
        rows.append((kind, line))
    return rows


def diff_html(before: str | None, after: str | None) -> Markup:
    parts = [Markup('<span class="%s">%s</span>') % (kind, highlight_redactions(line))
             for kind, line in diff_lines(before, after)]
    return Markup("\n").join(parts)

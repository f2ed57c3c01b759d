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


def xml_html(text: str | None) -> Markup:
    body = pretty_xml(text)
    if len(body) > DISPLAY_MAX:
        body = body[:DISPLAY_MAX] + "\n… (cut for display)"
    return highlight_redactions(body)


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

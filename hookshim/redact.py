"""Redaction of secrets in libvirt XML before anything is stored (pure functions).

Works on the text, not on a parsed tree: re-serialising would change bytes an auditor
compares, and parsing costs milliseconds the hook pays on every call. Only what is stored
is redacted; the XML handed back to libvirt (filter output) never is.

Built-in rules (see docs/hookshim.md):
- ``passwd`` attributes (VNC/SPICE graphics passwords, in migrate/restore input),
- the text of HTTP ``<cookie>`` elements (disk sources),
- ``query`` attributes (http(s) disk source query strings),
- every ``value`` attribute inside ``<qemu:commandline>`` / ``<xen:commandline>`` (any
  namespace prefix), i.e. passthrough arguments and environment values.

Extra rules (config ``redact_extra``, whitespace separated):
- ``ELEM@ATTR`` the attribute ATTR of elements named ELEM (``ns:name`` allowed),
- ``@ATTR`` the attribute ATTR on any element,
- ``ELEM`` the whole content of elements named ELEM (e.g. ``metadata``, ``dhCert``).
"""

MASK = "[redacted]"
_BUILTIN_TRIGGERS = ("passwd", "cookie", "query", "commandline")


def _re():
    import re  # lazy: most hook calls carry no XML that needs it

    return re


def _attr_pattern(elem, attr):
    re = _re()
    name = re.escape(attr)
    if elem:
        # inside the start tag of ELEM: libvirt escapes '>' in attribute values
        prefix = r"(<%s(?=[\s/>])[^>]*?\s%s\s*=\s*)" % (re.escape(elem), name)
    else:
        prefix = r"((?<=\s)%s\s*=\s*)" % name
    return re.compile(prefix + r"(['\"])(.*?)\2", re.S)


def _text_pattern(elem):
    re = _re()
    name = re.escape(elem)
    return re.compile(r"(<%s(?:\s[^>]*)?(?<!/)>)(.*?)(</%s\s*>)" % (name, name), re.S)


def _sub_attr(pattern, text):
    count = [0]

    def mask(m):
        if not m.group(3) or m.group(3) == MASK:
            return m.group(0)
        count[0] += 1
        return m.group(1) + m.group(2) + MASK + m.group(2)

    return pattern.sub(mask, text), count[0]


def _sub_text(pattern, text):
    count = [0]

    def mask(m):
        if not m.group(2).strip() or m.group(2) == MASK:
            return m.group(0)
        count[0] += 1
        return m.group(1) + MASK + m.group(3)

    return pattern.sub(mask, text), count[0]


def _commandline(text):
    """Mask every value= inside <prefix:commandline> blocks."""
    re = _re()
    block = re.compile(r"<([\w.-]+):commandline\b.*?</\1:commandline\s*>", re.S)
    values = _attr_pattern(None, "value")
    count = [0]

    def mask_block(m):
        masked, n = _sub_attr(values, m.group(0))
        count[0] += n
        return masked

    return block.sub(mask_block, text), count[0]


def parse_rules(rules):
    """Compile extra rule strings into (kind, pattern) pairs; raises ValueError on a bad one."""
    compiled = []
    for rule in rules:
        elem, sep, attr = rule.partition("@")
        if sep and not attr or not (elem or attr):
            raise ValueError("bad redaction rule %r (use ELEM@ATTR, @ATTR or ELEM)" % rule)
        if sep:
            compiled.append(("attr", _attr_pattern(elem, attr), attr))
        else:
            compiled.append(("text", _text_pattern(elem), elem))
    return compiled


def _needs_work(text, extra):
    return any(t in text for t in _BUILTIN_TRIGGERS) or any(
        (r.rpartition("@")[2] or r) in text for r in extra)


def redact(text, extra=()):
    """Return (redacted_text, number_of_values_masked). ``extra``: rule strings."""
    if not text or not _needs_work(text, extra):
        return text, 0
    total = 0
    for attr in ("passwd", "query"):
        text, n = _sub_attr(_attr_pattern(None, attr), text)
        total += n
    text, n = _sub_text(_text_pattern("cookie"), text)
    total += n
    text, n = _commandline(text)
    total += n
    for kind, pattern, _ in parse_rules(extra):
        text, n = (_sub_attr if kind == "attr" else _sub_text)(pattern, text)
        total += n
    return text, total

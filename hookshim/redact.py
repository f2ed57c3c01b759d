"""Redaction of secrets in libvirt XML before anything is stored (pure functions).

Works on the text with plain string scanning, not a parser and not ``re``: re-serialising
would change bytes an auditor compares, and both a parse and ``import re`` cost
milliseconds the hook pays on every call. Only what is stored is redacted; the XML handed
back to libvirt (filter output) never is. libvirt escapes ``<``, ``>`` and quotes inside
attribute values, which is what makes scanning for them sound.

Built-in rules (see docs/hookshim.md):
- ``passwd`` attributes (VNC/SPICE graphics passwords, in migrate/restore input),
- the text of HTTP ``<cookie>`` elements (disk sources),
- ``query`` attributes (http(s) disk source query strings),
- every ``value`` attribute inside ``<qemu:commandline>`` / ``<xen:commandline>`` (any
  namespace prefix), i.e. passthrough arguments and environment values,
- inside ``<launchSecurity>`` (SEV, SEV-SNP): the blobs ``<dhCert>``, ``<session>`` and
  ``<idAuth>`` become ``[sha256:<16 hex digits>]`` of their base64 text (whitespace
  removed), so an auditor can still tell whether two launches used the same one; the
  policy, cbitpos, reducedPhysBits, idBlock, hostData, TDX measurements and attributes are
  kept (docs/security.md says why, element by element).

Every value masked is also returned (``redact(..., found=list)``): hookshim/scrub.py
removes them from the scripts' output the event records.

Extra rules (config ``redact_extra``, whitespace separated):
- ``ELEM@ATTR`` the attribute ATTR of elements named ELEM (``ns:name`` allowed),
- ``@ATTR`` the attribute ATTR on any element,
- ``ELEM`` the whole content of elements named ELEM (e.g. ``metadata``).
"""

MASK = "[redacted]"
_SPACE = " \t\r\n"
_BUILTIN_TRIGGERS = ("passwd", "cookie", "query", "commandline", "launchSecurity")
# <launchSecurity> children replaced by their digest (the rest of the block is kept).
LAUNCH_SECURITY_BLOBS = ("dhCert", "session", "idAuth")


def _attr_value(text, i, name):
    """If ``name`` at ``i`` starts an attribute, return (value_start, value_end)."""
    if i == 0 or text[i - 1] not in _SPACE:
        return None
    j = i + len(name)
    while j < len(text) and text[j] in _SPACE:
        j += 1
    if j >= len(text) or text[j] != "=":
        return None
    j += 1
    while j < len(text) and text[j] in _SPACE:
        j += 1
    if j >= len(text) or text[j] not in "'\"":
        return None
    end = text.find(text[j], j + 1)
    return None if end < 0 else (j + 1, end)


def _in_start_tag_of(text, i, elem):
    """True when position ``i`` lies inside a start tag ``<elem ...``."""
    lt = text.rfind("<", 0, i)
    if lt < 0 or text.find(">", lt, i) >= 0:
        return False
    after = lt + 1 + len(elem)
    return text.startswith(elem, lt + 1) and after < len(text) and text[after] in _SPACE + "/>"


def mask_attr(text, name, elem=None, found=None):
    """Mask every non-empty ``name="..."`` (on ``elem`` only, when given); each value masked
    is appended to ``found`` when it is a list."""
    out, count, pos = [], 0, 0
    i = text.find(name)
    while i >= 0:
        span = _attr_value(text, i, name)
        if span and span[1] > span[0] and text[span[0]:span[1]] != MASK and (
                elem is None or _in_start_tag_of(text, i, elem)):
            out += [text[pos:span[0]], MASK]
            if found is not None:
                found.append(text[span[0]:span[1]])
            pos = span[1]
            count += 1
        i = text.find(name, (span[1] if span else i + len(name)))
    out.append(text[pos:])
    return "".join(out), count


def mask_text(text, elem, found=None, replace=None):
    """Mask the whole content of every non-empty ``<elem ...>...</elem>`` (``replace(body)``
    gives the replacement instead of MASK)."""
    out, count, pos = [], 0, 0
    open_tag, close_tag = "<" + elem, "</" + elem
    i = text.find(open_tag)
    while i >= 0:
        after = i + len(open_tag)
        gt = text.find(">", after)
        if gt < 0:
            break
        close = text.find(close_tag, gt)
        if text[after:after + 1] in (_SPACE + ">") and after < len(text) \
                and text[gt - 1] != "/" and close >= 0:
            body = text[gt + 1:close]
            if body.strip() and body != MASK and not _is_digest(body):
                out += [text[pos:gt + 1], replace(body) if replace else MASK]
                if found is not None:
                    found.append(body)
                pos = close
                count += 1
            i = text.find(open_tag, close)
        else:
            i = text.find(open_tag, after)
    out.append(text[pos:])
    return "".join(out), count


def mask_commandline(text, found=None):
    """Mask every ``value`` attribute inside ``<PREFIX:commandline>`` blocks."""
    out, count, pos = [], 0, 0
    i = text.find(":commandline")
    while i >= 0:
        lt = text.rfind("<", 0, i)
        prefix = text[lt + 1:i] if lt >= 0 else ""
        end = text.find("</%s:commandline" % prefix, i) if prefix and "/" not in prefix else -1
        if end < 0:
            i = text.find(":commandline", i + 1)
            continue
        block, n = mask_attr(text[lt:end], "value", found=found)
        out += [text[pos:lt], block]
        pos, count = end, count + n
        i = text.find(":commandline", end + 2 + len(prefix) + len(":commandline"))
    out.append(text[pos:])
    return "".join(out), count


def digest_of(body):
    """``[sha256:<16 hex>]`` of a base64 blob, whitespace removed (line wrapping is not
    part of the value): enough to compare two launches, nothing to decrypt."""
    from hookshim.wire import sha256_hex

    return "[sha256:%s]" % sha256_hex("".join(body.split()).encode("utf-8", "surrogatepass"))[:16]


def _is_digest(body):
    return body.startswith("[sha256:") and body.endswith("]") and len(body) == 25


def mask_launch_security(text, found=None):
    """Replace the blobs of every ``<launchSecurity>`` block by their digest."""
    out, count, pos = [], 0, 0
    i = text.find("<launchSecurity")
    while i >= 0:
        end = text.find("</launchSecurity", i)
        if end < 0:
            break
        block = text[i:end]
        for elem in LAUNCH_SECURITY_BLOBS:
            block, n = mask_text(block, elem, found, digest_of)
            count += n
        out += [text[pos:i], block]
        pos = end
        i = text.find("<launchSecurity", end + 16)
    out.append(text[pos:])
    return "".join(out), count


def parse_rules(rules):
    """Validate extra rule strings into (elem, attr) pairs; raises ValueError on a bad one."""
    parsed = []
    for rule in rules:
        elem, sep, attr = rule.partition("@")
        if (sep and not attr) or not (elem or attr) or any(c in rule for c in "<>'\"="):
            raise ValueError("bad redaction rule %r (use ELEM@ATTR, @ATTR or ELEM)" % rule)
        parsed.append((elem or None, attr if sep else None))
    return parsed


def _needs_work(text, extra):
    return any(t in text for t in _BUILTIN_TRIGGERS) or any(
        (r.rpartition("@")[2] or r) in text for r in extra)


def redact(text, extra=(), found=None):
    """Return (redacted_text, number_of_values_masked). ``extra``: rule strings; ``found``:
    a list the masked values are appended to (for hookshim/scrub.py)."""
    if not text or not _needs_work(text, extra):
        return text, 0
    rules = parse_rules(extra)
    total = 0
    for step in (lambda t: mask_attr(t, "passwd", found=found),
                 lambda t: mask_attr(t, "query", found=found),
                 lambda t: mask_text(t, "cookie", found), lambda t: mask_commandline(t, found),
                 lambda t: mask_launch_security(t, found)):
        text, n = step(text)
        total += n
    for elem, attr in rules:
        text, n = mask_attr(text, attr, elem, found) if attr else mask_text(text, elem, found)
        total += n
    return text, total

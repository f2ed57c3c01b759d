"""Scrubbing the secret values the XML redaction removed from what the scripts printed.

An adopted script that echoes its stdin (or parses it and prints a value) would otherwise
store in the event the VNC password, the cookie or the qemu:commandline value that the XML
redaction masked. Each value redaction finds (hookshim/redact.py ``found``) is searched for
in the scripts' stderr, the shim's own stderr and reason, and the filter output, both as
written in the XML and with its XML escapes undone, and replaced by ``[redacted]``; every
replacement counts in the event's ``redactions``.

Values shorter than MIN_CHARS are not scrubbed: qemu:commandline values such as ``1`` or
``on`` would otherwise mask every such character run in the output, and so short a value
is no secret worth the name. Plain ``bytes.replace``: no ``re`` on the hook path.
"""

from hookshim.redact import MASK

MIN_CHARS = 4
_ESCAPES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&#39;", "'"),
            ("&#34;", '"'), ("&amp;", "&"))


def unescaped(value):
    """The value an XML parser hands a script (the common entity and quote escapes)."""
    if "&" not in value:
        return value
    for escaped, plain in _ESCAPES:
        value = value.replace(escaped, plain)
    return value


def forms(values):
    """The byte strings to scrub for ``values``, longest first (so that a value containing
    another is masked whole); none that is part of MASK itself."""
    found = set()
    for value in values:
        for text in (value, unescaped(value)):
            if len(text) >= MIN_CHARS and text not in MASK:
                found.add(text.encode("utf-8", "surrogatepass"))
    return sorted(found, key=len, reverse=True)


_MASK_B = MASK.encode()


def scrub_bytes(data, patterns):
    """(data without any of ``patterns``, number replaced)."""
    count = 0
    for pattern in patterns:
        if pattern in data:
            count += data.count(pattern)
            data = data.replace(pattern, _MASK_B)
    return data, count


def scrub_text(text, patterns):
    """scrub_bytes for text (None stays None)."""
    if not text or not patterns:
        return text, 0
    data, count = scrub_bytes(text.encode("utf-8", "surrogatepass"), patterns)
    return (data.decode("utf-8", "surrogatepass"), count) if count else (text, 0)


def bounded(data, limit, patterns):
    """``data`` (read up to ``limit + slack(patterns)`` bytes) scrubbed, then cut to
    ``limit``: a value straddling the limit is masked whole, never stored in part."""
    if patterns:
        data, count = scrub_bytes(data, patterns)
    else:
        count = 0
    return data[:limit] if limit is not None else data, count


def slack(patterns):
    """How far past a size limit to read so that any value starting before it is whole."""
    return max(len(p) for p in patterns) - 1 if patterns else 0

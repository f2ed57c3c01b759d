"""Compact, sorted-key JSON without importing ``json`` (hook path speed).

``dumps(obj)`` returns exactly ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` for JSON-native values (dict with str keys, list, tuple, str, int,
float, bool, None); anything else raises TypeError so the caller can fall back to json.
Why: ``import json`` pulls in ``re`` and ``enum`` and costs ~6 ms per hook call, more than
the rest of the shim's imports together. tests/hookshim/test_wire.py checks the equality
property against json itself.
"""

# json's string escaping with ensure_ascii=False (json.encoder.py_encode_basestring): quote,
# backslash, the five short escapes, every other control character as \u00XX. Loading the
# _json extension costs the hook more than the escaping itself (hookshim/fs.py tells how that
# was measured), so: most strings need nothing; the XML needs the common escapes, done with
# str.replace (C speed); a control character beyond those takes the str.translate table,
# exact but ~8x slower on a large string.
_ESCAPES = {i: "\\u%04x" % i for i in range(0x20)}
_ESCAPES.update({ord("\\"): "\\\\", ord('"'): '\\"', ord("\b"): "\\b", ord("\f"): "\\f",
                 ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def _encode_str(value):
    # isprintable() is False for every control character (and for some characters json
    # leaves alone, which then merely take a slower path).
    if value.isprintable() and '"' not in value and "\\" not in value:
        return '"' + value + '"'
    text = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\r", "\\r").replace("\t", "\\t"))
    if text.isprintable():
        return '"' + text + '"'
    return '"' + value.translate(_ESCAPES) + '"'


_INF = float("inf")


def _float(value):
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    return float.__repr__(value)


def _encode(value, out):
    if value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, str):
        out(_encode_str(value))
    elif isinstance(value, int):
        out(int.__repr__(value))
    elif isinstance(value, float):
        out(_float(value))
    elif isinstance(value, dict):
        _encode_dict(value, out)
    elif isinstance(value, (list, tuple)):
        _encode_list(value, out)
    else:
        raise TypeError("not JSON-native: %s" % type(value).__name__)


def _encode_dict(value, out):
    if not all(isinstance(k, str) for k in value):
        raise TypeError("non-str dict key")
    out("{")
    for i, key in enumerate(sorted(value)):
        if i:
            out(",")
        out(_encode_str(key))
        out(":")
        _encode(value[key], out)
    out("}")


def _encode_list(value, out):
    out("[")
    for i, item in enumerate(value):
        if i:
            out(",")
        _encode(item, out)
    out("]")


def dumps(value):
    """Canonical JSON text (see module docstring); falls back to json for odd values."""
    parts = []
    try:
        _encode(value, parts.append)
    except TypeError:
        import json

        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "".join(parts)


def sha256_hex(data):
    """sha256 of bytes; the builtin module avoids hashlib's OpenSSL load (~2 ms)."""
    try:
        from _sha256 import sha256  # CPython <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # CPython >= 3.12
        except ImportError:
            from hashlib import sha256
    return sha256(data).hexdigest()

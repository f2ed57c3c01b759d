"""The limits of an event, shared by the shim and the server (stdlib only, no imports).

The server's validation (``app/schemas.py``, ``app/services/ingest_validate.py``) takes every
bound from here, and the spool applies the same bounds with ``fit_event`` before it hashes an
event: an event the server would refuse forever is never spooled. What is cut is said in the
event itself (a warning per field, ``xml_truncated`` for the input XML), so nothing is lost
silently. Lengths are in characters, as pydantic counts ``max_length``.
"""

INT32 = 2**31 - 1
INT64 = 2**63 - 1

HOST = 255              # host, shim.hostname
WORD = 64               # driver, op, policy mode/verdict: 1..64 characters
SHORT = 255             # policy rule_id
OBJECT = 4096           # guest / network name
SUBOP = 1024
EXTRA = 4096
TEXT = 1024 * 1024      # reason, stderr, warnings, script path/stderr, decision message/error
XML = 64 * 1024 * 1024  # xml, output_xml
STARTED_AT = 40
BUNDLE_VERSION = 128
SHIM_VERSION = 64
ITEMS = 1000            # scripts, warnings, policy decisions
HEARTBEAT_ERROR = 65536  # a heartbeat's last_error
# JSON containers nested inside one top-level field (policy, scripts, ...). The shim writes
# at most 3; orjson refuses past 255 and Python's json recurses: bounded well below both.
DEPTH = 64

# Top-level text fields: name -> (minimum, maximum) characters.
_FIELDS = {"host": (1, HOST), "driver": (1, WORD), "op": (1, WORD), "object": (0, OBJECT),
           "subop": (0, SUBOP), "extra": (0, EXTRA), "reason": (0, TEXT),
           "stderr": (0, TEXT)}
_SCRIPT_FIELDS = {"path": TEXT, "stderr": TEXT}
_DECISION_FIELDS = {"rule_id": (0, SHORT), "mode": (1, WORD), "verdict": (1, WORD),
                    "message": (0, TEXT), "error": (0, TEXT)}
_SHIM_FIELDS = {"version": SHIM_VERSION, "hostname": HOST}
EMPTY = "-"  # what an empty required word becomes (the contract's "none")


def fit_text(value, maximum):
    """``value`` cut to ``maximum`` characters and made encodable as UTF-8 (a lone
    surrogate becomes its ``\\udXXX`` escape); returns (text, what was changed or None)."""
    note = None
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
            note = "unencodable characters escaped"
    if len(value) > maximum:
        note = "cut from %d to %d characters" % (len(value), maximum)
        value = value[:maximum]
    return value, note


def fit_event(ev):
    """Bring ``ev`` (a dict, changed in place) within the limits; returns ``ev``."""
    notes = []
    for name, (low, high) in _FIELDS.items():
        _fit_field(ev, name, low, high, notes, name)
    _fit_xml(ev, "xml", "xml_sha256", notes)
    _fit_xml(ev, "output_xml", "output_xml_sha256", notes)
    _fit_uuid(ev, notes)
    _fit_nested(ev, notes)
    if notes:
        warnings = list(ev.get("warnings") or [])
        warnings.extend("limits: %s" % n for n in notes)
        ev["warnings"] = warnings
    _fit_list(ev, "warnings", "warnings", notes)
    return ev


def _fit_field(obj, name, low, high, notes, label):
    value = obj.get(name)
    if not isinstance(value, str):
        return
    value, note = fit_text(value, high)
    if len(value) < low:
        value, note = EMPTY, "was empty, now %r" % EMPTY
    if note:
        obj[name] = value
        notes.append("%s %s" % (label, note))


def _fit_xml(ev, name, digest, notes):
    text = ev.get(name)
    if isinstance(text, str) and len(text) > XML:
        from hookshim.event import xml_digest

        notes.append("%s cut from %d to %d characters" % (name, len(text), XML))
        ev[name] = text[:XML]
        ev[digest] = xml_digest(ev[name])
        if name == "xml":
            ev["xml_truncated"] = True


def is_uuid(text):
    """8-4-4-4-12 hex digits (the server's UUID pattern), without importing ``re``."""
    if not isinstance(text, str) or len(text) != 36:
        return False
    parts = text.split("-")
    if [len(p) for p in parts] != [8, 4, 4, 4, 12]:
        return False
    return all(c in "0123456789abcdefABCDEF" for c in "".join(parts))


def _fit_uuid(ev, notes):
    value = ev.get("domain_uuid")
    if value is not None and not is_uuid(value):
        ev["domain_uuid"] = None
        notes.append("domain_uuid %r is not a UUID, dropped" % fit_text(value, 64)[0])


def _fit_nested(ev, notes):
    for i, run in enumerate(_fit_list(ev, "scripts", "scripts", notes)):
        if isinstance(run, dict):
            for name, high in _SCRIPT_FIELDS.items():
                _fit_field(run, name, 0, high, notes, "scripts[%d].%s" % (i, name))
    policy = ev.get("policy")
    if isinstance(policy, dict):
        _fit_field(policy, "bundle_version", 0, BUNDLE_VERSION, notes, "policy.bundle_version")
        for i, d in enumerate(_fit_list(policy, "decisions", "policy.decisions", notes)):
            if isinstance(d, dict):
                for name, (low, high) in _DECISION_FIELDS.items():
                    _fit_field(d, name, low, high, notes, "policy.decisions[%d].%s" % (i, name))
    shim = ev.get("shim")
    if isinstance(shim, dict):
        for name, high in _SHIM_FIELDS.items():
            _fit_field(shim, name, 0, high, notes, "shim.%s" % name)


def _fit_list(obj, name, label, notes):
    """The list ``obj[name]`` cut to ITEMS entries (the last one says how many went)."""
    items = obj.get(name)
    if not isinstance(items, list):
        return ()
    if len(items) > ITEMS:
        keep = ITEMS - 1 if name == "warnings" else ITEMS  # warnings: room for the note
        note = "%s: %d entries dropped (limit %d)" % (label, len(items) - keep, ITEMS)
        items = items[:keep]
        if name == "warnings":
            items.append("limits: " + note)
        else:
            notes.append(note)
        obj[name] = items
    if name == "warnings":
        obj[name] = [fit_text(w, TEXT)[0] if isinstance(w, str) else w for w in items]
    return items

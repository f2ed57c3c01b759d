"""Conditions on the domain XML and the clock, in their compiled (bundle) form. Stdlib only.

A compiled condition is a JSON list whose first item names it:

    ["exists", path]                 some node (or attribute) selected by path
    ["missing", path]                nothing selected
    ["count", path, cmp]             number of selected nodes compared
    ["number", path, cmp, unit]      some selected value compared as a number; when ``unit`` is
                                     a default unit name the value is scaled to bytes by the
                                     element's ``unit`` attribute (libvirt's rules) and ``cmp``
                                     holds bytes; ``unit`` None compares the raw number
    ["regex", path, rx]              some selected value matches (search); rx is a compiled
                                     regex: {"pattern", "flags", "max_input", "sre"}
    ["equals", path, [v, ...]]       some selected value is one of the strings
    ["time", days, from_min, to_min, tz]         now is inside the window
    ["all", [c, ...]] / ["any", [c, ...]] / ["not", c]

``cmp`` is ``[[op, number], ...]`` with op in gt ge lt le eq ne; all must hold.
``ctx`` gives ``ctx.root()`` (the parsed XML, parsed at most once) and ``ctx.now``.
"""

from hookshim.policy_xml import select, values


class EvalError(Exception):
    """A condition cannot be evaluated on this input (bad data, not a bad rule)."""


# libvirt's virScaleInteger: b/byte(s); k m g t p e alone or with "iB" = powers of 1024,
# with "B" = powers of 1000; case-insensitive.
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def unit_scale(unit):
    """Bytes per ``unit`` the way libvirt reads a ``unit=`` attribute; ValueError if unknown."""
    low = unit.lower()
    if low in ("b", "byte", "bytes"):
        return 1
    if low and low[0] in _POWERS and low[1:] in ("", "ib", "b"):
        return (1000 if low[1:] == "b" else 1024) ** _POWERS[low[0]]
    raise ValueError("unknown unit %r (use b, bytes, KiB, MiB, GiB, TiB, KB, MB, GB, TB, k, M, G, T)"
                     % unit)


def holds(cond, ctx):
    """True when the compiled condition holds for this call."""
    return _KINDS[cond[0]](cond, ctx)


def _exists(cond, ctx):
    return bool(_selected(cond[1], ctx))


def _missing(cond, ctx):
    return not _selected(cond[1], ctx)


def _selected(path, ctx):
    if path.get("attr") is None:
        return select(ctx.root(), path)
    return values(ctx.root(), path)


def _count(cond, ctx):
    return compare(len(_selected(cond[1], ctx)), cond[2])


def _number(cond, ctx):
    path, cmp, default_unit = cond[1], cond[2], cond[3]
    for node_value, unit in _numbers_with_units(ctx.root(), path):
        number = _to_number(node_value)
        if default_unit is not None:
            try:
                number *= unit_scale(unit or default_unit)
            except ValueError as exc:
                raise EvalError(str(exc)) from None
        if compare(number, cmp):
            return True
    return False


def _numbers_with_units(root, path):
    if path.get("attr") is not None:
        return [(v, None) for v in values(root, path)]
    return [(n.text.strip(), n.attrib.get("unit")) for n in select(root, path)]


def _to_number(text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise EvalError("%r is not a number" % text[:40]) from None


def compare(number, cmp):
    """All ``[op, bound]`` pairs hold for ``number``."""
    for op, bound in cmp:
        ok = (number > bound if op == "gt" else number >= bound if op == "ge" else
              number < bound if op == "lt" else number <= bound if op == "le" else
              number == bound if op == "eq" else number != bound)
        if not ok:
            return False
    return True


def _regex(cond, ctx):
    path, rx = cond[1], cond[2]
    compiled = regex(rx)
    for value in values(ctx.root(), path):
        if len(value) > rx["max_input"]:
            raise EvalError("value longer than %d characters, regex %r not evaluated"
                            % (rx["max_input"], rx["pattern"]))
        if compiled.search(value):
            return True
    return False


_REGEXES = {}


def regex(rx):
    """The compiled pattern of a bundle regex, built once per process.

    The bundle carries the SRE code the server compiled; when this interpreter's regex
    engine has the same MAGIC the code goes straight to ``_sre.compile`` and ``re`` (with
    enum and the Python-level regex compiler) is never imported.
    """
    key = (rx["pattern"], rx["flags"])
    compiled = _REGEXES.get(key)
    if compiled is None:
        compiled = _REGEXES[key] = _build_regex(rx)
    return compiled


def _build_regex(rx):
    sre = rx.get("sre")
    if sre:
        import _sre

        if sre["magic"] == _sre.MAGIC and sre["codesize"] == _sre.CODESIZE:
            try:
                return _sre.compile(rx["pattern"], sre["flags"], sre["code"], sre["groups"],
                                    sre["groupindex"], tuple(sre["indexgroup"]))
            except (RuntimeError, TypeError, ValueError):
                pass  # code the engine refuses: compile the pattern instead
    import re

    return re.compile(rx["pattern"], rx["flags"])


def _equals(cond, ctx):
    wanted = cond[2]
    return any(v in wanted for v in values(ctx.root(), cond[1]))


def _time(cond, ctx):
    days, start, end, tz = cond[1], cond[2], cond[3], cond[4]
    weekday, minute = local_time(ctx.now, tz)
    start = 0 if start is None else start
    end = 1440 if end is None else end
    if start <= end:
        inside, opened_on = start <= minute < end, weekday
    elif minute >= start:
        inside, opened_on = True, weekday
    else:  # after midnight in a window that wraps: it opened the day before
        inside, opened_on = minute < end, (weekday - 1) % 7
    return inside and (days is None or opened_on in days)


def local_time(now, tz):
    """(weekday 0=Monday, minute of day) of the epoch time ``now`` in zone ``tz``."""
    import time

    if tz in ("UTC", "Etc/UTC", "Z"):
        t = time.gmtime(now)
        return t.tm_wday, t.tm_hour * 60 + t.tm_min
    from datetime import datetime  # lazy: zoneinfo costs a few ms, paid only by time rules

    try:
        from zoneinfo import ZoneInfo

        local = datetime.fromtimestamp(now, ZoneInfo(tz))
    except Exception as exc:  # unknown zone, missing tzdata: an evaluation error, not a crash
        raise EvalError("time zone %r unusable: %s" % (tz, exc)) from None
    return local.weekday(), local.hour * 60 + local.minute


def _all(cond, ctx):
    return all(holds(c, ctx) for c in cond[1])


def _any(cond, ctx):
    return any(holds(c, ctx) for c in cond[1])


def _not(cond, ctx):
    return not holds(cond[1], ctx)


_KINDS = {"exists": _exists, "missing": _missing, "count": _count, "number": _number,
          "regex": _regex, "equals": _equals, "time": _time,
          "all": _all, "any": _any, "not": _not}

"""Refuse regexes that can backtrack catastrophically, and bound what the others may read.

Python's ``re`` has no timeout, and a hook that hangs hangs libvirtd's guest operation, so the
guard is static (at compile/lint time) and the input is capped at the hook:

- nested quantifiers (``(a+)+``, ``(a*){2,9}``) and alternation inside a repeat (``(a|ab)*``)
  are exponential: refused;
- backreferences are refused (no linear bound);
- each unbounded repeat (``*``, ``+``, ``{n,}``, ``{n,m}`` with m > 100) multiplies the worst
  case by the input length: at most 2 per pattern; with 0-1 the hook evaluates values up to
  4096 characters, with 2 up to 256 (measured worst cases stay around 25 ms), longer values are
  an evaluation error (the rule's failure_policy decides).
"""
import _sre  # the regex compiler's internals, to ship compiled regex code in the bundle
import re
from re import _compiler as _sre_compiler
from re import _constants as _c
from re import _parser as _p

MAX_PATTERN = 512
BIG_REPEAT = 100
MAX_UNBOUNDED = 2
MAX_INPUT = {0: 4096, 1: 4096, 2: 256}
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT} | ({_c.POSSESSIVE_REPEAT}
                                             if hasattr(_c, "POSSESSIVE_REPEAT") else set())


class RegexError(ValueError):
    """The pattern is invalid or could make the hook hang."""


def check_regex(pattern: str, ignore_case: bool = False) -> int:
    """The longest input the hook will match ``pattern`` against; RegexError if refused."""
    if len(pattern) > MAX_PATTERN:
        raise RegexError(f"regex longer than {MAX_PATTERN} characters")
    try:
        re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        tree = _p.parse(pattern)
    except re.error as exc:
        raise RegexError(f"invalid regex {pattern!r}: {exc}") from None
    unbounded = _walk(tree, pattern, inside_repeat=False)
    if unbounded > MAX_UNBOUNDED:
        raise RegexError(f"regex {pattern!r} has {unbounded} unbounded repeats (at most "
                         f"{MAX_UNBOUNDED}): each one multiplies the worst-case time")
    return MAX_INPUT[unbounded]


def _walk(items, pattern: str, inside_repeat: bool) -> int:
    """Count unbounded repeats; raise on the catastrophic shapes."""
    count = 0
    for op, av in items:
        if op in _REPEATS:
            low, high, body = av
            if inside_repeat and high > 1:
                raise RegexError(f"regex {pattern!r} nests quantifiers (like (a+)+): "
                                 "exponential backtracking")
            count += (high == _c.MAXREPEAT or high > BIG_REPEAT)
            count += _walk(body, pattern, inside_repeat or high > 1)
        elif op == _c.BRANCH:
            if inside_repeat:
                raise RegexError(f"regex {pattern!r} repeats an alternation (like (a|ab)*): "
                                 "exponential backtracking")
            count += sum(_walk(b, pattern, inside_repeat) for b in av[1])
        elif op in (_c.GROUPREF, getattr(_c, "GROUPREF_EXISTS", None)):
            raise RegexError(f"regex {pattern!r} uses a backreference: no time bound")
        elif op == _c.SUBPATTERN:
            count += _walk(av[-1], pattern, inside_repeat)
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            count += _walk(av[1], pattern, inside_repeat)
        elif op == getattr(_c, "ATOMIC_GROUP", None):
            count += _walk(av, pattern, inside_repeat)
    return count




def compile_regex(pattern: str, ignore_case: bool = False) -> dict:
    """The bundle form of a checked regex: pattern, flags, input bound and the SRE code.

    The hook runs the shipped code through ``_sre.compile`` when its regex engine has the
    same MAGIC (same CPython regex code format), which spares it importing ``re`` (enum,
    functools, the Python-level parser: about half an interpreter start on a small host).
    Otherwise it compiles ``pattern`` with ``re``. ``_sre`` validates the code it is given.
    """
    flags = re.IGNORECASE if ignore_case else 0
    max_input = check_regex(pattern, ignore_case)
    return {"pattern": pattern, "flags": int(flags), "max_input": max_input,
            "sre": _sre_code(pattern, int(flags))}


def _sre_code(pattern: str, flags: int) -> dict | None:
    try:
        parsed = _p.parse(pattern, flags)
        code = list(_sre_compiler._code(parsed, flags))
        groupindex = dict(parsed.state.groupdict)
        indexgroup = [None] * parsed.state.groups
        for name, i in groupindex.items():
            indexgroup[i] = name
        sre = {"magic": _sre.MAGIC, "codesize": _sre.CODESIZE,
               "flags": int(flags | parsed.state.flags), "code": code,
               "groups": parsed.state.groups - 1, "groupindex": groupindex,
               "indexgroup": indexgroup}
        _sre.compile(pattern, sre["flags"], code, sre["groups"], groupindex, tuple(indexgroup))
        return sre
    except Exception:  # noqa: BLE001 - private API changed: the hook falls back to re
        return None

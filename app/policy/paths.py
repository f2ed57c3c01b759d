"""Compile the path syntax of policy rules into the steps the hook evaluates.

The syntax is the ElementTree subset of XPath operators know, relative to ``<domain>``:

    ./devices/hostdev                 children by tag, step by step
    .//source                         at any depth (descendant)
    ./devices/disk[@device='disk']    predicates: [@a] [@a='v'] [@a!='v'] [tag] [tag='text'] [n]
    ./devices/disk/source/@file       a final @name selects an attribute's value
    /domain/devices/*                 "/domain/..." is accepted as "./..."; * is any element

Compiled form (see hookshim/policy_xml.py): ``{"steps": [[axis, name, [pred, ...]], ...],
"attr": name | None}``.
"""
import re

MAX_PATH = 512
MAX_STEPS = 32
_NAME = re.compile(r"\*|[A-Za-z_][\w.:-]*")
_PRED_ATTR = re.compile(r"@([A-Za-z_][\w.:-]*)\s*(?:(!?=)\s*(?:'([^']*)'|\"([^\"]*)\"))?$")
_PRED_CHILD = re.compile(r"([A-Za-z_][\w.:-]*)\s*(?:=\s*(?:'([^']*)'|\"([^\"]*)\"))?$")


class PathError(ValueError):
    """A rule's path is not in the supported syntax."""


def compile_path(text: str) -> dict:
    """The compiled form of one path, or PathError saying what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise PathError("empty path")
    if len(text) > MAX_PATH:
        raise PathError(f"path longer than {MAX_PATH} characters")
    s = _normalize(text.strip())
    steps, attr, i = [], None, 1  # s starts with "."
    while i < len(s):
        axis, i = ("desc", i + 2) if s.startswith("//", i) else ("child", i + 1)
        if s[i - 1] != "/":
            raise PathError(f"expected '/' at position {i - 1} of {text!r}")
        if s.startswith("@", i):
            attr, i = _final_attr(s, i, text)
            break
        name_m = _NAME.match(s, i)
        if not name_m:
            raise PathError(f"expected an element name at position {i} of {text!r}")
        i = name_m.end()
        preds, i = _predicates(s, i, text)
        steps.append([axis, name_m.group(), preds])
    if len(steps) > MAX_STEPS:
        raise PathError(f"path has more than {MAX_STEPS} steps")
    return {"steps": steps, "attr": attr}


def _normalize(s: str) -> str:
    if s.startswith("/domain/") or s == "/domain":
        return "." + s[len("/domain"):]
    if s.startswith("//"):
        return "." + s
    if s.startswith("/"):
        raise PathError(f"absolute path {s!r}: paths are relative to <domain>, write './...'")
    if s == "." or s.startswith("./") or s.startswith(".//"):
        return s
    return "./" + s


def _final_attr(s: str, i: int, text: str):
    m = re.compile(r"@([A-Za-z_][\w.:-]*)$").match(s, i)
    if not m:
        raise PathError(f"an @attribute must be the last step of {text!r}")
    return m.group(1), len(s)


def _predicates(s: str, i: int, text: str):
    preds = []
    while i < len(s) and s[i] == "[":
        end = _closing(s, i, text)
        preds.append(_predicate(s[i + 1:end].strip(), text))
        i = end + 1
    return preds, i


def _closing(s: str, i: int, text: str) -> int:
    quote = None
    for j in range(i + 1, len(s)):
        c = s[j]
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "]":
            return j
    raise PathError(f"unclosed '[' in {text!r}")


def _predicate(p: str, text: str) -> list:
    if p.isdigit():
        if int(p) < 1:
            raise PathError(f"positions start at 1 in {text!r}")
        return ["pos", int(p)]
    m = _PRED_ATTR.match(p)
    if m:
        name, op, v1, v2 = m.groups()
        if op is None:
            return ["has_attr", name]
        return ["attr_eq" if op == "=" else "attr_ne", name, v1 if v1 is not None else v2]
    m = _PRED_CHILD.match(p)
    if m:
        name, v1, v2 = m.groups()
        if v1 is None and v2 is None:
            return ["has_child", name]
        return ["child_eq", name, v1 if v1 is not None else v2]
    raise PathError(f"unsupported predicate [{p}] in {text!r} "
                    "(use [@a], [@a='v'], [@a!='v'], [tag], [tag='text'] or [n])")

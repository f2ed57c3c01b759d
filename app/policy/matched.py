"""Which XML elements made a rule match a stored event (the event page highlights them).

Decisions do not record the element that matched, so this re-evaluates the rule that decided
against the stored (redacted) XML: the bundle that decided when the server still serves that
version, else the current rules of the same id (said so on the page); a rule retired since
cannot be shown. Elements are named by their document-order index (0 = the root element), which
app/web/xmlview.py finds again in the displayed XML. Pure: no database, no HTTP.
"""
from __future__ import annotations

from hookshim.policy_cond import compare, holds, regex
from hookshim.policy_xml import XMLError, parse, select

# Decisions in which the rule matched: a deny (enforced or not) or a rewrite.
MATCHED_VERDICTS = ("deny", "mutate")
ATTR_OPS = ("set_attribute", "remove_attribute", "replace_prefix")


class _Ctx:
    __slots__ = ("_root", "now")

    def __init__(self, root, now):
        self._root, self.now = root, now

    def root(self):
        return self._root


def _value(node, attr):
    return node.text.strip() if attr is None else node.attrib.get(attr)


def _carrying(path, root):
    """Selected elements (those carrying the attribute when the path ends in @attr)."""
    attr = path.get("attr")
    return [n for n in select(root, path) if attr is None or attr in n.attrib]


def _number_ok(node, cond):
    from hookshim.policy_cond import unit_scale

    path, cmp, default_unit = cond[1], cond[2], cond[3]
    text = _value(node, path.get("attr"))
    try:
        number = float(text)
        if default_unit is not None:
            unit = None if path.get("attr") is not None else node.attrib.get("unit")
            number *= unit_scale(unit or default_unit)
    except (TypeError, ValueError):
        return False
    return compare(number, cmp)


def witnesses(cond, ctx) -> list:
    """Nodes that make the compiled condition ``cond`` hold (empty when it does not, or when
    it holds by an absence or the clock: "missing", "not", "time")."""
    kind, root = cond[0], ctx.root()
    if kind in ("all", "any"):
        parts = [c for c in cond[1] if holds(c, ctx)]
        if kind == "all" and len(parts) != len(cond[1]):
            return []
        return [n for c in parts for n in witnesses(c, ctx)]
    if kind in ("missing", "not", "time") or not holds(cond, ctx):
        return []
    nodes = _carrying(cond[1], root)
    attr = cond[1].get("attr")
    if kind == "number":
        return [n for n in nodes if _number_ok(n, cond)]
    if kind == "regex":
        rx = regex(cond[2])
        return [n for n in nodes if rx.search(_value(n, attr) or "")]
    if kind == "equals":
        return [n for n in nodes if _value(n, attr) in cond[2]]
    return nodes                                     # exists, count


def _mutated(ops, root) -> list:
    out = []
    for op in ops:
        for n in select(root, op[1]):
            attr = op[2] if op[0] in ATTR_OPS else None
            current = _value(n, attr) if attr is not None else n.text
            changes = {"set_attribute": lambda: n.attrib.get(attr) != op[3],
                       "remove_attribute": lambda: attr in n.attrib,
                       "replace_prefix": lambda: current is not None and op[3] != op[4]
                       and current.startswith(op[3]),
                       "set_text": lambda: n.text != op[2] or bool(n.children),
                       "remove_element": lambda: True}.get(op[0], lambda: False)()
            if changes:
                out.append(n)
    return out


def element_indexes(root) -> dict:
    """id(node) -> document-order index of every element under (and including) ``root``."""
    out, todo = {}, [root]
    while todo:
        node = todo.pop()
        out[id(node)] = len(out)
        todo.extend(reversed([c for c in node.children if c.tag is not None]))
    return out


def rule_elements(rule: dict, xml: str, now: float | None = None) -> list[int]:
    """Document-order indexes of the elements that make ``rule`` (compiled) match ``xml``."""
    try:
        root = parse(xml)
    except XMLError:
        return []
    ctx = _Ctx(root, now)
    nodes = []
    try:
        if rule.get("mutate"):
            nodes += _mutated(rule["mutate"], root)
        if rule.get("deny_if") is not None:
            nodes += witnesses(rule["deny_if"], ctx)
    except Exception:  # noqa: BLE001 - a rule that cannot be evaluated here marks nothing
        return []
    index = element_indexes(root)
    return sorted({index[id(n)] for n in nodes if id(n) in index})


def matched_elements(bundle: dict | None, event: dict, now: float | None = None) -> dict:
    """What the event page highlights: for each rule that denied or rewrote (any mode), the
    elements that made it match, re-evaluated with the bundle that decided if it is the one
    served now, else with the current rule of that id; rules no longer served are "retired".

    ``{"marks": {index: [rule_id, ...]}, "rules": [{"rule_id", "source", "elements"}],
    "retired": [rule_id, ...]}``; source is "decided" (same bundle version) or "current".
    """
    from app.policy.service import _epoch, find_rule

    if now is None:
        now = _epoch(event.get("started_at"))
    out = {"marks": {}, "rules": [], "retired": []}
    xml = event.get("xml")
    if not xml:
        return out
    current = (bundle or {}).get("version")
    seen = set()
    for d in event.get("decisions") or ():
        rule_id = d.get("rule_id")
        if d.get("verdict") not in MATCHED_VERDICTS or rule_id in seen:
            continue
        seen.add(rule_id)
        rule = find_rule(bundle, rule_id)
        if rule is None:
            out["retired"].append(rule_id)
            continue
        decided = d.get("bundle_version") or event.get("policy_bundle_version")
        elements = rule_elements(rule, xml, now)
        out["rules"].append({"rule_id": rule_id, "elements": elements,
                             "source": "decided" if decided and decided == current else "current"})
        for i in elements:
            out["marks"].setdefault(i, []).append(rule_id)
    return out

"""YAML policy files -> validated rules -> the compiled bundle the hook evaluates.

    bundle, findings = compile_dir(path)   # bundle None when any finding is an error

The bundle (format 1) is plain JSON; everything the hook would otherwise compile on each call
is done here: globs split into literal segments, paths into steps, sizes into bytes, day names
into numbers, regexes checked and given an input bound. ``version`` is a content hash, so the
same policies always give the same version (the ETag of GET /api/v1/policy-bundle).
"""
import fnmatch
import hashlib
import json
from pathlib import Path

from pydantic import ValidationError

from app.policy.findings import Finding
from app.policy.lint import lint_rules
from app.policy.paths import compile_path
from app.policy.regex_guard import compile_regex
from app.policy.schema import DAYS, Condition, Mutation, Rule, as_list, parse_quantity
from app.policy.yamlload import YamlError, load_yaml
from hookshim.policy import FORMAT, MARKER_NAMESPACE
from hookshim.policy_cond import unit_scale


def policy_files(directory: Path) -> list[Path]:
    """The policy files of a directory: *.yaml / *.yml directly in it (tests/ is separate);
    hidden files (editor and checkout leftovers) are not policies."""
    return sorted(p for p in Path(directory).iterdir()
                  if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith("."))


def load_dir(directory) -> tuple[list[tuple[str, Rule]], list[Finding], list[dict]]:
    """Validated rules (file name, Rule), findings, and the sources (file, sha256)."""
    directory = Path(directory)
    if not directory.is_dir():
        return [], [Finding("error", str(directory), None, "not a directory")], []
    rules, findings, sources = [], [], []
    for path in policy_files(directory):
        raw = path.read_bytes()
        sources.append({"file": path.name, "sha256": hashlib.sha256(raw).hexdigest()})
        file_rules, file_findings = load_text(raw.decode("utf-8", "replace"), path.name)
        rules += [(path.name, r) for r in file_rules]
        findings += file_findings
    findings += _duplicate_ids(rules)
    return rules, findings, sources


def load_text(text: str, name: str) -> tuple[list[Rule], list[Finding]]:
    """Rules of one policy file's text; every problem becomes a Finding naming the rule."""
    try:
        data = load_yaml(text)
    except YamlError as exc:
        return [], [Finding("error", name, None, str(exc))]
    if data is None:
        return [], []
    if not isinstance(data, list):
        return [], [Finding("error", name, None, "a policy file is a YAML list of rules")]
    rules, findings = [], []
    for i, item in enumerate(data):
        rule_id = item.get("id") if isinstance(item, dict) else None
        label = str(rule_id) if rule_id else f"rule #{i + 1}"
        try:
            rules.append(Rule.model_validate(item))
        except ValidationError as exc:
            findings += [Finding("error", name, label, _pydantic_message(e)) for e in exc.errors()]
    return rules, findings


def _pydantic_message(err: dict) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see docs/policies.md)"
    return f"{loc}: {msg}" if loc else msg


def _duplicate_ids(rules) -> list[Finding]:
    seen, out = {}, []
    for file, rule in rules:
        if rule.id in seen:
            out.append(Finding("error", file, rule.id, f"duplicate rule id (also in {seen[rule.id]})"))
        seen.setdefault(rule.id, file)
    return out


def compile_dir(directory) -> tuple[dict | None, list[Finding]]:
    """The bundle of a policy directory and all findings (lint included)."""
    rules, findings, sources = load_dir(directory)
    findings += lint_rules(rules)
    if any(f.level == "error" for f in findings):
        return None, findings
    return build_bundle(rules, sources), findings


def build_bundle(rules: list[tuple[str, Rule]], sources: list[dict]) -> dict:
    """The format-1 bundle with its content-hash version."""
    compiled = [compile_rule(rule, file) for file, rule in rules]
    by_op: dict[str, list[int]] = {}
    for i, (_, rule) in enumerate(rules):
        for op in as_list(rule.match.op) or ["*"]:
            by_op.setdefault(op, []).append(i)
    bundle = {"format": FORMAT, "kind": "hookaudit-policy-bundle",
              "marker_namespace": MARKER_NAMESPACE, "sources": sources,
              "rules": compiled, "by_op": by_op}
    bundle["version"] = bundle_version(bundle)
    return bundle


def bundle_version(bundle: dict) -> str:
    body = {k: v for k, v in bundle.items() if k != "version"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


def compile_rule(rule: Rule, source: str = "") -> dict:
    """One rule in bundle form (see hookshim/policy.py for how it is read)."""
    m = rule.match
    match = {"driver": as_list(m.driver), "subop": as_list(m.subop),
             "object": compile_globs(m.object), "host": compile_globs(m.host),
             "object_regex": compile_regex(m.object_regex) if m.object_regex else None,
             "domain_uuid": [u.lower() for u in as_list(m.domain_uuid)] if m.domain_uuid else None}
    ex = rule.exempt
    exempt = ({"object": compile_globs(ex.object), "host": compile_globs(ex.host),
               "marker": ex.marker} if ex else None)
    return {"id": rule.id, "source": source, "description": rule.description, "mode": rule.mode,
            "failure_policy": rule.failure_policy, "message": rule.message,
            "allow_destroy_running": rule.allow_destroy_running, "match": match,
            "exempt": exempt,
            "deny_if": compile_condition(rule.deny_if) if rule.deny_if else None,
            "mutate": [compile_mutation(x) for x in rule.mutate] if rule.mutate else None}


def compile_globs(value) -> list | None:
    """Shell globs: '*'-only ones as literal segments (no regex at the hook), others as regex."""
    globs = as_list(value)
    if globs is None:
        return None
    return [["seg", g.split("*")] if not any(c in g for c in "?[") else
            ["re", compile_regex(fnmatch.translate(g))] for g in globs]


def compile_condition(c: Condition) -> list:
    kind = c.kind()
    if kind in ("exists", "missing"):
        return [kind, compile_path(getattr(c, kind))]
    if kind in ("all", "any"):
        return [kind, [compile_condition(x) for x in getattr(c, kind + "_")]]
    if kind == "not":
        return ["not", compile_condition(c.not_)]
    return _LEAVES[kind](getattr(c, kind))


def _count(x) -> list:
    return ["count", compile_path(x.path), [[op, v] for op, v in x.bounds().items()]]


def _number(x) -> list:
    if not x.sized():
        return ["number", compile_path(x.path),
                [[op, parse_quantity(v)[0]] for op, v in x.bounds().items()], None]
    default = x.unit or "KiB"
    cmp = []
    for op, v in x.bounds().items():
        number, unit = parse_quantity(v)
        scaled = number * unit_scale(unit or default)
        cmp.append([op, int(scaled) if float(scaled).is_integer() else scaled])
    return ["number", compile_path(x.path), cmp, default]


def _regex(x) -> list:
    return ["regex", compile_path(x.path), compile_regex(x.pattern, x.ignore_case)]


def _equals(x) -> list:
    return ["equals", compile_path(x.path), as_list(x.value)]


def _time(x) -> list:
    days = sorted({DAYS.index(d.lower()[:3]) for d in x.days}) if x.days else None
    return ["time", days, _minutes(x.from_), _minutes(x.to), x.tz]


def _minutes(hhmm: str | None) -> int | None:
    if hhmm is None:
        return None
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


_LEAVES = {"count": _count, "number": _number, "regex": _regex, "equals": _equals, "time": _time}


def compile_mutation(mu: Mutation) -> list:
    kind = next(iter(mu.model_fields_set))
    x = getattr(mu, kind)
    path = compile_path(x.path)
    if kind == "set_attribute":
        return [kind, path, x.attribute, x.value]
    if kind == "remove_attribute":
        return [kind, path, x.attribute]
    if kind == "replace_prefix":
        return [kind, path, x.attribute, x.from_, x.to]
    if kind == "set_text":
        return [kind, path, x.value]
    return [kind, path]


def dump_bundle(bundle: dict) -> bytes:
    """The bundle as served and as the hook reads it."""
    return json.dumps(bundle, sort_keys=True, separators=(",", ":")).encode("utf-8")

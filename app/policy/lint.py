"""Guard rails: what a valid rule may still get wrong, judged by libvirt's hook semantics.

Errors block the bundle; warnings are printed and the bundle is built.

- an enforce deny that can fire where a refusal harms a running guest (``started``,
  ``reconnect``, network ``plugged`` in old releases: hookshim/outcome.py, any release)
  destroys it or drops it from libvirt: error unless the rule sets
  ``allow_destroy_running: true``; a rule with no ``match.op`` matches those ops too;
- a deny on ``stopped``/``release`` or for the ``daemon`` driver does nothing (libvirt ignores
  those exit codes): warning;
- mutations only reach libvirt on the filter ops (``migrate``, qemu ``restore``): a mutate rule
  must list only those ops, and a driver it names must have that filter (libxl has no
  ``restore`` filter: the mutation would be dropped at run time);
- a deny rule without an explicit ``mode`` enforces at once: warning (roll out with dryrun).
"""
from app.policy.findings import Finding
from app.policy.schema import Rule, as_list
from hookshim import outcome
from hookshim.policy import FILTER_OPS

NO_EFFECT_OPS = ("stopped", "release", "port-deleted", "shutdown", "reload")


def lint_rules(rules: list[tuple[str, Rule]]) -> list[Finding]:
    """All guard-rail findings of a list of (file, rule)."""
    out = []
    for file, rule in rules:
        for level, message in lint_rule(rule):
            out.append(Finding(level, file, rule.id, message))
    return out


def lint_rule(rule: Rule) -> list[tuple[str, str]]:
    """(level, message) pairs for one rule."""
    if rule.mutate is not None:
        return _mutation_findings(rule)
    return _deny_findings(rule)


def _deny_findings(rule: Rule) -> list[tuple[str, str]]:
    ops = as_list(rule.match.op)
    out = []
    harmful = _harmful_ops(as_list(rule.match.driver))
    destructive = sorted(harmful) if ops is None else [o for o in ops if o in harmful]
    if rule.mode == "enforce" and destructive and not rule.allow_destroy_running:
        scope = "matches every op, including" if ops is None else "matches"
        out.append(("error", (f"enforce deny {scope} {'/'.join(destructive)}: there a deny "
                              "destroys a running guest; list the ops it is meant for in "
                              "match.op (e.g. [prepare]) or opt in with "
                              "allow_destroy_running: true")))
    if rule.allow_destroy_running and not destructive:
        out.append(("warning", ("allow_destroy_running is set but the rule never matches "
                                "started/reconnect")))
    out += _no_effect(rule, ops)
    if "mode" not in rule.model_fields_set:
        out.append(("warning", ("no explicit mode: the rule enforces as soon as it ships; roll "
                                "out with mode: dryrun, then warn, then enforce")))
    return out


def _harmful_ops(drivers) -> set[str]:
    """Ops where a refusal harms a running guest, for these drivers in any libvirt release
    (the linter does not know which release each host runs)."""
    return {op for d in drivers or outcome.DRIVERS for op in outcome.guard_rail_ops(d)}


def _no_effect(rule: Rule, ops) -> list[tuple[str, str]]:
    if rule.mode != "enforce":
        return []
    drivers = as_list(rule.match.driver)
    if drivers == ["daemon"]:
        return [("warning", ("a deny for the daemon driver has no effect: libvirt ignores the "
                             "daemon hook's exit status"))]
    idle = [o for o in ops or () if o in NO_EFFECT_OPS]
    if idle:
        return [("warning", (f"a deny on {'/'.join(idle)} has no effect: libvirt ignores the "
                             "exit status there (the guest is already stopping)"))]
    return []


def _mutation_findings(rule: Rule) -> list[tuple[str, str]]:
    ops = as_list(rule.match.op)
    if ops is None or any(o not in FILTER_OPS for o in ops):
        return [("error", ("mutate rules must set match.op to filter ops only "
                           f"({', '.join(sorted(FILTER_OPS))}): libvirt reads the hook's XML "
                           "output nowhere else"))]
    out = []
    for driver in as_list(rule.match.driver) or ():
        for op in ops:
            if not outcome.is_filter(driver, op):
                out.append(("error", (f"{driver} has no {op} filter: libvirt never reads "
                                      "the hook's XML there, the mutation would be dropped "
                                      "(restrict match.driver or match.op)")))
    if rule.allow_destroy_running:
        out.append(("warning", "allow_destroy_running has no meaning on a mutate rule"))
    return out

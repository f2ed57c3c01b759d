"""Policy data for the API and the pages: the served bundle, rules with hit counts, what-ifs.

The bundle is compiled from ``Settings.policy_dir`` and cached until a policy file changes
(mtime/size), so a fleet polling every minute costs a stat() per file, not a compile.
"""
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app.models import PolicyDecision
from app.policy.compiler import (
    build_bundle,
    compile_dir,
    compile_rule,
    dump_bundle,
    load_dir,
    policy_files,
)
from app.policy.findings import Finding
from app.policy.lint import lint_rule
from app.policy.schema import Rule, as_list
from app.services.errors import Invalid, NotFound
from app.services.events import get_event, verdict_of, xml_diff
from app.timeutil import as_naive_utc, utcnow
from hookshim.policy import evaluate

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
HIT_KINDS = ("deny", "warn", "dryrun", "mutate", "error")


class BundleUnavailable(Exception):
    """The policy directory does not compile; hosts keep their last good bundle."""

    def __init__(self, findings: list[Finding]):
        super().__init__("the policy directory has errors")
        self.findings = findings


class BundleCache:
    """The compiled bundle of one directory, rebuilt when a policy file changes."""

    def __init__(self, directory: str | None):
        self.directory = Path(directory) if directory else None
        self._lock = threading.Lock()
        self._key = self._value = ()  # () never equals a signature: the first get() builds
        self.specs: dict[str, dict] = {}  # rule id -> the rule as written (for the API/pages)

    def get(self) -> tuple[dict | None, bytes | None, list[Finding]]:
        """(bundle, its JSON bytes, findings); bundle None when the directory has errors."""
        key = self._signature()
        with self._lock:
            if key != self._key:
                self._value = self._build()
                self._key = key
            return self._value

    def _signature(self):
        if self.directory is None or not self.directory.is_dir():
            return None
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                     for p in policy_files(self.directory))

    def _build(self):
        if self.directory is None:
            bundle, findings = build_bundle([], []), []  # no policies: an empty, valid bundle
        else:
            bundle, findings = compile_dir(self.directory)
            self.specs = {rule.id: rule.model_dump(mode="json", by_alias=True, exclude_unset=True)
                          for _, rule in load_dir(self.directory)[0]}
        return bundle, (dump_bundle(bundle) if bundle else None), findings


_CACHES: dict[str | None, BundleCache] = {}
_CACHES_LOCK = threading.Lock()


def cache_for(settings) -> BundleCache:
    """The process-wide BundleCache of ``settings.policy_dir`` (API and pages share it)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(settings.policy_dir)
        if cache is None:
            cache = _CACHES[settings.policy_dir] = BundleCache(settings.policy_dir)
        return cache


def served_bundle(cache: BundleCache) -> tuple[str, bytes]:
    """(version, JSON bytes) to serve; BundleUnavailable when the policies have errors."""
    bundle, data, findings = cache.get()
    if bundle is None:
        raise BundleUnavailable([f for f in findings if f.level == "error"])
    return bundle["version"], data


def list_policies(session: Session, cache: BundleCache, now: datetime | None = None) -> dict:
    """The rules of the current bundle with their hits per window, plus retired rules' hits."""
    bundle, _, findings = cache.get()
    hits = hit_counts(session, now or utcnow())
    rules = []
    for rule in (bundle or {}).get("rules", []):
        rules.append(_rule_summary(rule) | {"spec": cache.specs.get(rule["id"]), "in_bundle": True,
                                            "hits": hits.pop(rule["id"], _zero())})
    for rule_id in sorted(hits):  # rules no longer in the bundle that still have recent hits
        rules.append({"id": rule_id, "in_bundle": False, "hits": hits[rule_id]})
    return {"bundle_version": bundle and bundle["version"],
            "policy_dir": str(cache.directory) if cache.directory else None,
            "findings": [f.as_dict() for f in findings], "rules": rules}


def _rule_summary(rule: dict) -> dict:
    return {"id": rule["id"], "source": rule["source"], "mode": rule["mode"],
            "description": rule.get("description"),
            "kind": "mutate" if rule["mutate"] else "deny", "message": rule["message"],
            "failure_policy": rule["failure_policy"]}


def _zero() -> dict:
    return {w: dict.fromkeys(HIT_KINDS, 0) for w in WINDOWS}


def hit_kind(mode: str, verdict: str) -> str | None:
    """Which counter a decision feeds: deny/warn/dryrun by mode for denies; mutate; error (the
    events' ``verdict`` filter, so a count's link lists exactly the counted events)."""
    return verdict_of(mode, verdict)


def hit_counts(session: Session, now: datetime) -> dict[str, dict]:
    """rule_id -> {"24h": {deny, warn, dryrun, mutate, error}, "7d": {...}} (one query)."""
    d = PolicyDecision
    day = now - WINDOWS["24h"]
    rows = session.execute(
        select(d.rule_id, d.mode, d.verdict, func.count(),
               func.sum(case((d.at >= day, 1), else_=0)))
        .where(d.at >= now - WINDOWS["7d"], d.verdict != "allow")
        .group_by(d.rule_id, d.mode, d.verdict))
    out: dict[str, dict] = {}
    for rule_id, mode, verdict, week, last_day in rows:
        kind = hit_kind(mode, verdict)
        if kind:
            counts = out.setdefault(rule_id, _zero())
            counts["7d"][kind] += week
            counts["24h"][kind] += int(last_day or 0)
    return out


def what_if(rule: dict, event: dict) -> dict:
    """What ``rule`` (from find_rule) does to a stored event: verdict, reason, XML diff.

    The rule runs in enforce mode so a dryrun/warn rule shows the refusal or rewrite it would
    make once enforced; the time windows see the event's own time; the XML is the stored,
    redacted one (a rule about redacted values cannot be replayed exactly).
    """
    ops = rule.get("_ops")
    compiled = {k: v for k, v in rule.items() if k != "_ops"} | {"mode": "enforce"}
    single = {"format": 1, "version": "what-if", "rules": [compiled],
              "by_op": {op: [0] for op in ops} if ops else {"*": [0]}}
    v = evaluate(json.loads(json.dumps(single)), _call_of(event), event.get("xml") or "")
    return {"rule_id": rule["id"], "mode": rule["mode"], "event_id": event["event_id"],
            "applies": bool(v.decisions),
            "verdict": v.decisions[0]["verdict"] if v.decisions else None,
            "would_deny": v.deny, "reason": v.reason, "errors": v.errors,
            "output_xml": v.output_xml, "xml_diff": xml_diff(event.get("xml"), v.output_xml),
            "recorded": [d for d in event.get("decisions") or () if d.get("rule_id") == rule["id"]],
            "xml_redacted": bool(event.get("redactions"))}


def replay(bundle: dict, event: dict) -> dict:
    """What the whole bundle, modes as they are, decides for a stored event."""
    v = evaluate(json.loads(json.dumps(bundle)), _call_of(event), event.get("xml") or "")
    return {"bundle_version": bundle["version"], "event_id": event["event_id"], "deny": v.deny,
            "reason": v.reason, "decisions": v.decisions, "errors": v.errors,
            "xml_diff": xml_diff(event.get("xml"), v.output_xml),
            "recorded": {"bundle_version": event.get("policy_bundle_version"),
                         "decisions": event.get("decisions") or []}}


def _call_of(event: dict) -> dict:
    call = {k: event.get(k) for k in ("driver", "object", "op", "subop", "extra", "host",
                                       "domain_uuid")}
    call["now"] = _epoch(event.get("started_at"))
    return call


def _epoch(started_at) -> float | None:
    if not started_at:
        return None
    return as_naive_utc(started_at).replace(tzinfo=UTC).timestamp()


def find_rule(bundle: dict | None, rule_id: str) -> dict | None:
    """The compiled rule with its op list (from by_op) as ``_ops`` (None: every op)."""
    for i, rule in enumerate((bundle or {}).get("rules", [])):
        if rule["id"] == rule_id:
            ops = sorted(op for op, idx in bundle["by_op"].items() if i in idx and op != "*")
            return dict(rule, _ops=ops or None)
    return None


def stored_event(session: Session, event_id: str) -> dict:
    event = get_event(session, event_id)
    if event is None:
        raise NotFound("event", event_id)
    return event


def evaluate_rule(session: Session, cache: BundleCache, rule_id: str, event_id: str) -> dict:
    """What rule ``rule_id`` of the current bundle would do to a stored event."""
    bundle, _, _ = cache.get()
    rule = find_rule(bundle, rule_id)
    if rule is None:
        raise NotFound("rule", rule_id, f"no rule {rule_id!r} in the current bundle")
    return what_if(rule, stored_event(session, event_id))


def evaluate_draft(session: Session, spec: dict, event_id: str) -> dict:
    """A draft rule (the YAML rule as a dict) against a stored event: validated and linted
    as ``hookaudit policy lint`` would, then replayed."""
    try:
        rule = Rule.model_validate(spec)
    except ValidationError as exc:
        details = [{"field": "rule." + ".".join(map(str, e["loc"])), "message": e["msg"]}
                   for e in exc.errors()]
        raise Invalid("the rule is not valid", details) from None
    errors = [m for level, m in lint_rule(rule) if level == "error"]
    if errors:
        raise Invalid(errors[0], [{"field": "rule", "message": m} for m in errors],
                      code="policy_lint_error")
    compiled = compile_rule(rule, "draft") | {"_ops": as_list(rule.match.op)}
    return what_if(compiled, stored_event(session, event_id))


def replay_current(cache: BundleCache, event: dict) -> dict:
    """The current bundle replayed on a stored event (the policies page's "test against
    event N"); the findings instead when the policy directory does not compile."""
    bundle, _, findings = cache.get()
    if bundle is None:
        return {"error": "the policy directory has errors",
                "findings": [f.as_dict() for f in findings]}
    return replay(bundle, event)

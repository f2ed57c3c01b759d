"""One rule: its definition and what it did (or would have done) over time.

The page /policies/rules/{rule_id} and its twin GET /api/v1/policies/rules/{rule_id}: the
rule as written (match, condition, mode, message) from the active bundle, and its decisions
per time bucket counted in the database by hit kind (deny / warn / dryrun / mutate / error,
app/policy/service.py hit_kind), from ix_policy_decisions_rule_at. What an operator reads
before moving a rule dryrun -> warn -> enforce.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import PolicyDecision
from app.policy.service import HIT_KINDS, BundleCache, _rule_summary, find_rule, hit_kind
from app.services.errors import NotFound
from app.services.histogram import bucket_of, dense_buckets, grid
from app.timeutil import iso, utcnow

# The next mode on the way to enforcement, and what to check before taking it.
NEXT_STEP = {
    "dryrun": ("warn", "dryrun hits are the calls it would refuse: check them, then warn"),
    "warn": ("enforce", "warn hits are logged and shown to the operator; when none is a "
                        "mistake, enforce"),
}


def rule_history(session: Session, rule_id: str, since: datetime, until: datetime,
                 max_buckets: int = 80) -> dict:
    """Decisions of ``rule_id`` per bucket and hit kind over since..until (one GROUP BY)."""
    d = PolicyDecision
    t0, step, n = grid(since, until, max_buckets)
    bucket = bucket_of(d.at, t0, step).label("bucket")
    rows = session.execute(
        select(bucket, d.mode, d.verdict, func.count())
        .where(d.rule_id == rule_id, d.at >= since, d.at < until, d.verdict != "allow")
        .group_by(bucket, d.mode, d.verdict)).all()
    by_kind = [(i, hit_kind(mode, verdict), count) for i, mode, verdict, count in rows]
    buckets = dense_buckets(by_kind, since, until, t0, step, n, HIT_KINDS)
    totals = {k: sum(b["counts"][k] for b in buckets) for k in HIT_KINDS}
    return {"since": iso(since), "until": iso(until), "step_seconds": int(step.total_seconds()),
            "kinds": list(HIT_KINDS), "buckets": buckets, "totals": totals,
            "total": sum(totals.values()), "max": max((b["total"] for b in buckets), default=0)}


def _last_decision(session: Session, rule_id: str) -> datetime | None:
    d = PolicyDecision
    return session.scalar(select(d.at).where(d.rule_id == rule_id).order_by(d.at.desc())
                          .limit(1))


def rule_detail(session: Session, cache: BundleCache, rule_id: str,
                since: datetime | None = None, until: datetime | None = None) -> dict:
    """The rule of the current bundle (or a retired one that still has decisions) with its
    history over since..until (default: the last 7 days); NotFound for a rule never seen."""
    bundle, _, _ = cache.get()
    rule = find_rule(bundle, rule_id)
    last = _last_decision(session, rule_id)
    if rule is None and last is None:
        raise NotFound("rule", rule_id, f"no rule {rule_id!r} in the current bundle, and no "
                                        "decision of one in the store")
    until = until or utcnow()
    since = since or until - timedelta(days=7)
    spec = cache.specs.get(rule_id) if rule else None
    out = {"id": rule_id, "in_bundle": rule is not None,
           "bundle_version": bundle and bundle["version"], "spec": spec,
           "definition_yaml": yaml.safe_dump([spec], sort_keys=False, allow_unicode=True)
           if spec else None, "ops": rule and rule["_ops"], "last_decision_at": iso(last),
           "history": rule_history(session, rule_id, since, until)}
    if rule:
        out |= {k: v for k, v in _rule_summary(rule).items() if k != "id"}
        step = NEXT_STEP.get(rule["mode"])
        out["next_step"] = {"mode": step[0], "advice": step[1]} if step else None
    return out

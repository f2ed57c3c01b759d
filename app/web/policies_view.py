"""Context of the policies page: hit counts from stored decisions, plus the policy engine's
own rule listing and "test against event N" when ``app.api.policies`` provides them."""
from importlib import import_module

from app.services.events import get_event
from app.services.overview import policy_hits


def _engine():
    """The policy engineer's service module, if this build has it (optional dependency)."""
    try:
        return import_module("app.api.policies")
    except ImportError:
        return None


def policies_context(request, db, settings) -> dict:
    engine = _engine()
    rules = engine.list_rules(db, settings) if engine and hasattr(engine, "list_rules") else None
    ctx = {"hits": policy_hits(db), "rules": rules, "test": None, "test_error": None,
           "test_event": request.query_params.get("test_event", "").strip()}
    if ctx["test_event"]:
        ev = get_event(db, ctx["test_event"])
        if ev is None:
            ctx["test_error"] = "No event has this id."
        elif engine is None or not hasattr(engine, "test_event"):
            ctx["test_error"] = ("This server has no policy test service yet; run "
                                 "`hookaudit policy test` against the policy directory instead.")
        else:
            ctx["test"] = engine.test_event(db, settings, ev)
    return ctx

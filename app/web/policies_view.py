"""Context of the policies page, from the policy engine's own service functions (the same
ones behind GET /api/v1/policies and its evaluate routes): rules with hit counts per window,
and "test against event N" (the current bundle replayed on a stored event)."""
from app.policy import service as policy_service
from app.services.events import get_event
from app.timeutil import iso, utcnow
from app.web.params import qs


def policies_context(request, session, settings) -> dict:
    now = utcnow()
    data = policy_service.list_policies(session, policy_service.cache_for(settings), now)
    # A hit count links to /events?rule=&verdict=&since=: the same window from the same now.
    since = {w: iso(now - span) for w, span in policy_service.WINDOWS.items()}
    ctx = {"data": data, "windows": list(policy_service.WINDOWS), "since": since, "qs": qs,
           "kinds": policy_service.HIT_KINDS, "test": None, "test_error": None,
           "test_event": request.query_params.get("test_event", "").strip()}
    if ctx["test_event"]:
        event = get_event(session, ctx["test_event"])
        if event is None:
            ctx["test_error"] = "No event has this id."
        else:
            ctx["test"] = policy_service.replay_current(policy_service.cache_for(settings), event)
    return ctx

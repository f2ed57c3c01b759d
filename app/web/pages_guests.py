"""Guests (search) and one guest's timeline with its live event list.

``/guests/{uuid}/rows?after=<started_at>|<event_id>`` answers only the rows after the newest
row the page shows ("rows after X"), and a new tail element carrying the next cursor; the
page polls it with htmx every 2 s.
JSON twins: /api/v1/guests, /api/v1/guests/{uuid}/timeline.
"""
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from app.deps import SessionDep, SettingsDep
from app.schemas_query import EventFilters, GuestQuery, RangeQuery
from app.services.attribution import changed_since_last_boot
from app.services.errors import NotFound
from app.services.guests import (count_calls, event_summaries, get_guest, guest_boots,
                                 guest_density, list_guests, recent_boots)
from app.services.live import rows_after, tail_cursor
from app.timeutil import iso, parse_iso, utcnow
from app.web.auth import PageUser
from app.web.params import notice, page_links, parse, query_dict, unknown_params
from app.web.render import render
from app.web.guest_view import calls_by_boot
from app.web.timeline import timeline_from_boots
from app.web.timeline_svg import density_svg, timeline_svg

router = APIRouter(include_in_schema=False)
# "life" (the default): the guest's own activity, its first to its last call; "recent": the
# day up to the guest's last call (so a guest idle for months is not empty)
RANGES = {"life": None, "recent": timedelta(hours=24), "1h": timedelta(hours=1),
          "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30),
          "all": None}
LIVE_ROWS_MAX = 200
LIST_MAX = 200          # rows under the picture; the events page pages through the rest


def _guests(request: Request, session) -> dict:
    p, problems = parse(request, GuestQuery)
    error = notice(problems, unknown_params(request, GuestQuery.model_fields))
    page = list_guests(session, p)
    params = query_dict(request, ("q", "host", "state", "migrated"))
    return {"page": page, "p": p, "error": error,
            **page_links("/guests", params, page["next_cursor"])}


@router.get("/guests")
def guests_page(request: Request, _user: PageUser, session: SessionDep):
    return render(request, "guests.html", _guests(request, session))


@router.get("/guests/rows")
def guests_rows(request: Request, _user: PageUser, session: SessionDep):
    """Only the rows partial: the search box's results and "more guests"."""
    return render(request, "_guest_rows.html", _guests(request, session))


def _window(key: str, guest: dict) -> tuple[datetime | None, datetime]:
    """(since, until) of a range key; since None = the whole life."""
    now = utcnow()
    if key == "all":
        return None, now
    if key == "life":   # first..last call, a little margin so the last mark is not on the edge
        first, last = parse_iso(guest["first_seen_at"]), parse_iso(guest["last_event_at"])
        return first, min(last + max((last - first) / 50, timedelta(seconds=5)), now)
    anchor = min(parse_iso(guest["last_event_at"]), now) if key == "recent" else now
    return anchor - RANGES[key], now


@router.get("/guests/{domain_uuid}")
def guest_page(request: Request, domain_uuid: str, _user: PageUser, session: SessionDep,
               settings: SettingsDep, time_range: Annotated[str, Query(alias="range")] = "life"):
    guest = get_guest(session, domain_uuid)
    if not guest:
        raise NotFound("guest", domain_uuid, "No hook call has recorded a guest with this UUID.")
    bounds, problems = parse(request, RangeQuery)
    error = notice(problems, unknown_params(request, {"range", "since", "until"}))
    custom = bounds.since is not None and bounds.since < (bounds.until or utcnow())
    if bounds.since is not None and not custom:
        error = error or "since must be before until: showing the guest's activity."
    if custom:                           # a custom range (a column of the picture, or typed)
        key, since, until = "custom", bounds.since, bounds.until or utcnow()
    else:
        key = time_range if time_range in RANGES else "life"
        if time_range not in RANGES:
            error = error or f"Unknown time range {time_range!r}: showing the guest's activity."
        since, until = _window(key, guest)
    total = count_calls(session, guest["domain_uuid"], since, until)
    # The exact picture (a bar per boot) reads every call of the range; past
    # timeline_dense_calls the picture is counted in the database per host and bucket and the
    # boots are those of the listed (newest) calls: the page stays fast at any size.
    dense = total > settings.timeline_dense_calls
    if dense:
        data = recent_boots(session, guest, LIST_MAX, since, until)
        density = guest_density(session, guest["domain_uuid"], since or _first(guest), until)
        svg = density_svg(density, lambda a, b: f"?since={a}&until={b}")
    else:
        data = guest_boots(session, guest, settings.timeline_max_events, since, until)
    # boots are in boot order; the list under the picture is in time order across hosts
    events = sorted((ev for boot in data["boots"] for ev in boot["events"]),
                    key=lambda ev: ev["started_at"], reverse=True)
    if not dense:
        # the lean boot rows carry started_at as a (naive UTC) datetime already
        t0 = since or (events[-1]["started_at"] if events else until - timedelta(hours=1))
        svg = timeline_svg(timeline_from_boots(data["boots"],
                                               min(t0, until - timedelta(minutes=5)), until))
    # dense: the boots' events are the listed summaries already (recent_boots)
    listed = events[:LIST_MAX] if dense else \
        event_summaries(session, [ev["id"] for ev in events[:LIST_MAX]])
    return render(request, "guest.html", {
        "data": data, "guest": guest, "svg": svg, "dense": dense, "error": error,
        "events": listed, "boot_groups": calls_by_boot(data["boots"], listed),
        "events_total": total if dense else len(events), "range": key,
        "ranges": list(RANGES), "since": since, "until": until,
        "dense_limit": settings.timeline_dense_calls, "density": density if dense else None,
        "tail": tail_cursor(_newest(events, guest)),
        "changed": changed_since_last_boot(session, guest["domain_uuid"])})


def _first(guest: dict) -> datetime:
    return parse_iso(guest["first_seen_at"])


def _newest(events: list[dict], guest: dict) -> dict:
    """The newest call shown; with none in the range, the guest's last call (from its row)."""
    if events:
        ev = max(events, key=lambda ev: (ev["started_at"], ev["event_id"]))
        at = ev["started_at"]     # a datetime (lean rows) or already ISO (summaries)
        return {"started_at": at if isinstance(at, str) else iso(at), "event_id": ev["event_id"]}
    return {"started_at": guest["last_event_at"], "event_id": guest["last_event_id"]}


@router.get("/guests/{domain_uuid}/rows")
def guest_rows_after(request: Request, domain_uuid: str, _user: PageUser,
                     session: SessionDep, after: str | None = None):
    """Only the rows of this guest after the cursor ``after`` (newest first)."""
    if not after or "|" not in after:
        return render(request, "_guest_live.html", {"guest_uuid": domain_uuid, "events": [],
                                                    "tail": None})
    live = rows_after(session, EventFilters(guest=[domain_uuid]), after, LIVE_ROWS_MAX)
    return render(request, "_guest_live.html", {"guest_uuid": domain_uuid, "tail": live["cursor"],
                                                "events": list(reversed(live["items"]))})

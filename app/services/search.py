"""The header's search box: one text in, the things it names out (GET /search, /api/v1/search).

Search is an ordered list of *recognisers*, RECOGNISERS. Each is a function
``(session, text) -> list[Match]`` that answers only for the shapes of text it knows (an
event id, a guest UUID, a guest name, a host name) and returns [] otherwise; search() asks
them in order and concatenates what they find, at most LIMIT matches. Exactly one match means
the page jumps straight to it.

Adding a recogniser (for example MAC address / PCI address / disk path -> attribution, from
app/facts) is one call, at import time of the module that owns it:

    from app.services.search import Match, register
    register(my_recogniser, before="guest_name")   # or at the end without ``before``

Keep a recogniser to one indexed query: the box is typed into.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.facts.lookup import classify
from app.models import Event, Guest, Host
from app.services.paging import LIKE_ESCAPE, prefix_pattern
from app.timeutil import iso

LIMIT = 20
SUGGEST_LIMIT = 10
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Match:
    kind: str               # "event", "guest", "host", ... (the recogniser's word)
    label: str              # what the list shows
    url: str                # where the match is shown in the dashboard
    detail: str = ""        # one line of context (state, when, where)


Recogniser = Callable[[Session, str], list[Match]]


def event_by_id(session: Session, text: str) -> list[Match]:
    if not UUID_RE.match(text):
        return []
    row = session.execute(select(Event.event_id, Event.op, Event.subop, Event.object,
                                 Event.started_at, Event.outcome, Host.name)
                          .join(Host, Host.id == Event.host_id)
                          .where(Event.event_id == text.lower())).first()
    if row is None:
        return []
    return [Match("event", f"{row.op} {row.subop} of {row.object}", f"/events/{row.event_id}",
                  f"{row.outcome} on {row.name} at {iso(row.started_at)}")]


def guest_by_uuid(session: Session, text: str) -> list[Match]:
    if not UUID_RE.match(text):
        return []
    row = session.get(Guest, text.lower())
    return [_guest(row)] if row else []


def guest_by_name(session: Session, text: str) -> list[Match]:
    """Guests named ``text``; without one, guests whose name starts with it, in any case
    (latest first)."""
    exact = session.scalars(select(Guest).where(Guest.name == text)
                            .order_by(Guest.last_event_at.desc()).limit(LIMIT)).all()
    if exact:
        return [_guest(g) for g in exact]
    rows = session.scalars(select(Guest)
                           .where(Guest.name.ilike(prefix_pattern(text), escape=LIKE_ESCAPE))
                           .order_by(Guest.last_event_at.desc()).limit(LIMIT)).all()
    return [_guest(g) for g in rows]


def host_by_name(session: Session, text: str) -> list[Match]:
    """The host named ``text``; without one, hosts whose name starts with it."""
    exact = session.scalars(select(Host.name).where(Host.name == text)).all()
    names = exact or session.scalars(
        select(Host.name).where(Host.name.ilike(prefix_pattern(text), escape=LIKE_ESCAPE))
        .order_by(Host.name).limit(LIMIT)).all()
    return [Match("host", n, f"/events?host={quote(n)}", "host: its events") for n in names]


def _guest(g: Guest) -> Match:
    where = f" on {g.current_host}" if g.current_host else ""
    return Match("guest", g.name, f"/guests/{g.domain_uuid}",
                 f"{g.domain_uuid} · {g.state}{where} · last call {iso(g.last_event_at)}")


# In order: the exact identifiers first, names after.
def fact_holder(_session: Session, text: str) -> list[Match]:
    """A MAC, IP, PCI address, disk path or volume name (app/facts/lookup.py ``classify``, a
    pure function): the attribution page that says who held it, on which host, when."""
    found = classify(text)
    if found is None or found.kind == "guest":      # a UUID: the guest and event recognisers
        return []
    return [Match("attribution", f"who held {found.kind} {found.value}", found.path,
                  "every guest that held it, with hosts, times and the proving calls")]


RECOGNISERS: list[tuple[str, Recogniser]] = [
    ("event_id", event_by_id),
    ("guest_uuid", guest_by_uuid),
    ("fact", fact_holder),
    ("guest_name", guest_by_name),
    ("host_name", host_by_name),
]


def register(recogniser: Recogniser, name: str | None = None, before: str | None = None):
    """Add ``recogniser`` to RECOGNISERS (before the one named ``before``, else last)."""
    entry = (name or recogniser.__name__, recogniser)
    names = [n for n, _ in RECOGNISERS]
    if entry[0] in names:
        RECOGNISERS[names.index(entry[0])] = entry
    elif before in names:
        RECOGNISERS.insert(names.index(before), entry)
    else:
        RECOGNISERS.append(entry)
    return recogniser


def search(session: Session, text: str) -> dict:
    """Every match of ``text`` (recognisers in order, at most LIMIT); ``jump`` is the one
    match's URL when there is exactly one."""
    text = text.strip()
    matches: list[Match] = []
    if text:
        for _, recognise in RECOGNISERS:
            for m in recognise(session, text):
                if m not in matches:
                    matches.append(m)
    matches = matches[:LIMIT]
    return {"query": text, "matches": [asdict(m) for m in matches],
            "jump": matches[0].url if len(matches) == 1 else None}


def suggest(session: Session, field: str, prefix: str, limit: int = SUGGEST_LIMIT) -> list[str]:
    """Distinct host or guest names starting with ``prefix`` (a filter input's datalist)."""
    column = {"host": Host.name, "guest": Guest.name}[field]
    stmt = (select(column).where(column.ilike(prefix_pattern(prefix), escape=LIKE_ESCAPE))
            .distinct().order_by(column).limit(limit))
    return list(session.scalars(stmt))

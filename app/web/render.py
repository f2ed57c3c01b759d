"""Jinja2 environment and the one way pages are rendered.

Autoescape is on for every template: guest names, XML, stderr and reasons come from hosts and
tenants. A page response always says ``Vary: HX-Request``: htmx asks the same page URLs as the
browser (and swaps a part of them), and a 401 answers htmx differently (HX-Redirect).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape
from jinja2.filters import do_urlencode
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.timeutil import iso
from app.web import session
from app.web.event_view import glossary, verdict_view, virsh_error
from app.web.explain import explain
from app.web.xmlview import diff_html, xml_html

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# Defence in depth behind autoescaping: only our own scripts run (no inline script, no eval
# of host data), nothing frames the dashboard, forms post only to us.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
                               "'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
                               "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _time(value) -> Markup:
    """``<time>`` in UTC; hookaudit.js adds the viewer's local time as a tooltip."""
    if value is None or value == "":
        return Markup('<span class="muted">–</span>')
    if isinstance(value, datetime):
        value = iso(value)
    text = str(value)
    short = text[:19].replace("T", " ")
    return Markup('<time datetime="%s" title="UTC">%s</time>') % (text, short)


def _duration(ms) -> str:
    if ms is None:
        return "–"
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def _outcome(value) -> Markup:
    value = value or "unknown"
    return Markup('<span class="badge o-%s">%s</span>') % (value, value.replace("_", " "))


def _ago(seconds) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"


def _bucket(seconds: int) -> str:
    """A histogram's bucket size: 30 s, 5 min, 3 h, 1 d."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


_MISSING = object()


def _esc(value) -> str:
    """markupsafe.escape's text, as a plain str (no Markup object per value)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return (str(value).replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
            .replace("'", "&#39;").replace('"', "&#34;"))


def _field(ev: dict, key: str) -> str:
    """``{{ ev.key }}`` as Jinja renders it here: escaped, a missing key as nothing."""
    value = ev.get(key, _MISSING)
    return "" if value is _MISSING else _esc(value)


def _event_row(ev: dict, show_guest: bool = True) -> Markup:
    """One row of an event list (the ``event_row`` macro of templates/macros.html): built
    here because a 200-row list cost ~40 ms as a Jinja macro. Every value is escaped;
    tests/dashboard/test_event_row.py holds the macro it replaced and compares the two."""
    eid = _field(ev, "event_id")
    started = ev.get("started_at", "")
    if started is None or started == "":
        when = '<span class="muted">–</span>'
    else:
        text = iso(started) if isinstance(started, datetime) else str(started)
        short = _esc(text[:19].replace("T", " "))
        when = f'<time datetime="{_esc(text)}" title="UTC">{short}</time>'
    cells = [f'<tr id="ev-{eid}">\n  <td><a href="/events/{eid}">{when}</a>']
    if ev.get("clock_skew"):
        cells.append(f' <span class="badge o-timed_out" title="received at this time; the host '
                     f'said {_field(ev, "host_started_at")}">clock skew</span>')
    cells.append("</td>\n")
    if show_guest:
        uuid = ev.get("domain_uuid")
        obj = _field(ev, "object")
        cells.append(f'<td><a href="/guests/{_esc(uuid)}">{obj}</a></td>' if uuid
                     else f"<td>{obj}</td>")
    host = ev.get("host", _MISSING)
    quoted = _esc(do_urlencode(host)) if host is not _MISSING else ""
    cells.append(f'  <td><a href="/events?host={quoted}">{_field(ev, "host")}</a></td>\n  '
                 f'<td class="mono">{_field(ev, "driver")} {_field(ev, "op")} '
                 f'{_field(ev, "subop")}')
    extra = ev.get("extra")
    if extra and extra != "-":
        cells.append(f" {_esc(extra)}")
    if ev.get("known_op", _MISSING) is False:
        cells.append(' <span class="badge o-timed_out" title="not an op libvirt calls hooks '
                     'with">unknown op</span>')
    migration = ev.get("migration")
    if migration:
        cells.append(f' <span class="migration">{_esc(migration.get("source") or "?")} → '
                     f'{_esc(migration.get("destination", ""))}</span>')
    outcome = ev.get("outcome") or "unknown"
    cells.append(f'</td>\n  <td><span class="badge o-{_esc(outcome)}">'
                 f'{_esc(outcome.replace("_", " "))}</span></td>\n  '
                 f'<td class="num">{_esc(_duration(ev.get("duration_ms")))}</td>\n  '
                 f'<td class="wrap">{_esc(ev.get("reason") or "")}</td>\n</tr>')
    return Markup("".join(cells))


def make_env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(time=_time, duration=_duration, outcome=_outcome, ago=_ago,
                       bucket=_bucket)
    env.globals.update(explain=explain, xml_html=xml_html, diff_html=diff_html, escape=escape,
                       virsh_error=virsh_error, verdict_view=verdict_view, glossary=glossary,
                       event_row_html=_event_row)
    return env


def env_of(request: Request) -> Environment:
    state = request.app.state
    if getattr(state, "jinja_env", None) is None:
        state.jinja_env = make_env()
    return state.jinja_env


def render(request: Request, template: str, context: dict, status: int = 200,
           headers: dict | None = None) -> HTMLResponse:
    """Render ``template`` with the request, user and CSRF token in the context."""
    ctx = {"request": request, "user": getattr(request.state, "web_user", None),
           "csrf_token": session.csrf_token(request), "path": request.url.path, **context}
    html = env_of(request).get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["Vary"] = "HX-Request"
    # Pages hold audit data: never cache them in a shared proxy.
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(SECURITY_HEADERS)
    return session.persist(request, response)

"""Server-rendered SVG for a ``Timeline`` (pure: data in, markup out).

Every piece of text (host names, labels, ids) goes through ``esc``: host names and guest
names come from hosts and tenants. Colours come from CSS classes (``o-<outcome>``) so the
stylesheet owns the accessible palette; the shape of a mark also tells the outcome, so the
picture reads without colour.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from app.timeutil import parse_iso
from app.web.timeline import BAD, SEVERITY, Timeline

LABEL_W = 150          # px for host names on the left
LANE_H = 34
AXIS_H = 24
NICE_STEPS = [timedelta(seconds=s) for s in (
    1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400, 30 * 86400)]


def esc(value) -> str:
    return escape(str(value), quote=True)


def tick_step(span: timedelta, max_ticks: int = 8) -> timedelta:
    """The smallest 'nice' step that keeps the axis at or under ``max_ticks`` labels."""
    for step in NICE_STEPS:
        if span / step <= max_ticks:
            return step
    return NICE_STEPS[-1]


def ticks(t0: datetime, t1: datetime, max_ticks: int = 8) -> list[datetime]:
    step = tick_step(t1 - t0, max_ticks)
    epoch = datetime(1970, 1, 1, tzinfo=t0.tzinfo)
    first = epoch + step * -(-(t0 - epoch) // step)      # ceil to the step
    out, t = [], first
    while t <= t1:
        out.append(t)
        t += step
    return out


def tick_label(t: datetime, step: timedelta) -> str:
    if step >= timedelta(days=1):
        return t.strftime("%m-%d")
    return t.strftime("%H:%M:%S" if step < timedelta(minutes=1) else "%H:%M")


class _Scale:
    def __init__(self, tl: Timeline, width: int):
        self.t0, self.span = tl.t0, max((tl.t1 - tl.t0).total_seconds(), 1e-6)
        self.plot_w = width - LABEL_W - 10
        self.lane = {h: i for i, h in enumerate(tl.hosts)}

    def x(self, t: datetime) -> float:
        frac = (t - self.t0).total_seconds() / self.span
        return round(LABEL_W + min(max(frac, 0.0), 1.0) * self.plot_w, 1)

    def y(self, host: str) -> float:
        return AXIS_H + self.lane[host] * LANE_H


def _link(event_id, inner: str, title: str) -> str:
    body = f"<title>{esc(title)}</title>{inner}"
    if not event_id:
        return f"<g>{body}</g>"
    return f'<a href="/events/{esc(event_id)}">{body}</a>'


def _axis(tl: Timeline, sc: _Scale, height: int) -> list[str]:
    step = tick_step(tl.t1 - tl.t0)
    out = []
    for t in ticks(tl.t0, tl.t1):
        x = sc.x(t)
        out.append(f'<line class="tl-grid" x1="{x}" y1="{AXIS_H - 4}" x2="{x}" y2="{height}"/>')
        out.append(f'<text class="tl-tick" x="{x}" y="{AXIS_H - 8}" text-anchor="middle">'
                   f"{esc(tick_label(t, step))}</text>")
    return out


def _lanes(tl: Timeline, sc: _Scale, width: int) -> list[str]:
    out = []
    for host, i in sc.lane.items():
        y = sc.y(host)
        out.append(f'<rect class="tl-lane{" tl-alt" if i % 2 else ""}" x="0" y="{y}" '
                   f'width="{width}" height="{LANE_H}"/>')
        out.append(f'<text class="tl-host" x="6" y="{y + LANE_H / 2 + 4}">{esc(host[:22])}</text>')
    return out


def _bars(tl: Timeline, sc: _Scale) -> list[str]:
    out = []
    for bar in tl.bars:
        x1, x2 = sc.x(bar.start), sc.x(bar.end or tl.t1)
        y = sc.y(bar.host) + 8
        state = "running" if bar.end is None else "ended"
        title = f"{bar.host}: {bar.label} at {bar.start:%Y-%m-%d %H:%M:%S}Z, {bar.outcome}, {state}"
        rect = (f'<rect class="tl-bar o-{esc(bar.outcome)}{" tl-open" if bar.end is None else ""}" '
                f'x="{x1}" y="{y}" width="{max(x2 - x1, 3)}" height="{LANE_H - 16}" rx="3"/>')
        out.append(_link(bar.event_id, rect, title))
    return out


def _marks(tl: Timeline, sc: _Scale) -> list[str]:
    out = []
    for m in tl.marks:
        x, y = sc.x(m.at), sc.y(m.host) + LANE_H / 2
        # a cross for aborted, a triangle for killed / timed out: readable without colour
        if m.outcome == "aborted":
            shape = (f'<path class="tl-mark o-aborted" d="M{x - 6},{y - 6}L{x + 6},{y + 6}'
                     f'M{x + 6},{y - 6}L{x - 6},{y + 6}"/>')
        else:
            shape = (f'<path class="tl-mark o-{esc(m.outcome)}" '
                     f'd="M{x},{y - 7}L{x + 7},{y + 6}L{x - 7},{y + 6}Z"/>')
        out.append(_link(m.event_id, shape, f"{m.host}: {m.label} at {m.at:%Y-%m-%d %H:%M:%S}Z"))
    return out


def _migrations(tl: Timeline, sc: _Scale) -> list[str]:
    out = []
    for mg in tl.migrations:
        x, y2 = sc.x(mg.at), sc.y(mg.dest) + LANE_H / 2
        y1 = sc.y(mg.source) + LANE_H / 2 if mg.source in sc.lane else y2 - LANE_H / 2
        title = f"migration {mg.source or '?'} → {mg.dest} at {mg.at:%Y-%m-%d %H:%M:%S}Z: {mg.outcome}"
        line = (f'<line class="tl-migration o-{esc(mg.outcome)}" x1="{x}" y1="{y1}" x2="{x}" '
                f'y2="{y2}" marker-end="url(#tl-arrow)"/>')
        out.append(_link(mg.event_id, line, title))
    return out


def timeline_svg(tl: Timeline, width: int = 960) -> str:
    """The whole SVG document fragment for embedding in a page."""
    height = AXIS_H + max(len(tl.hosts), 1) * LANE_H + 4
    sc = _Scale(tl, width)
    label = (f"Timeline from {tl.t0:%Y-%m-%d %H:%M}Z to {tl.t1:%Y-%m-%d %H:%M}Z: "
             f"{len(tl.hosts)} hosts, {len(tl.bars)} boots, {len(tl.marks)} failures, "
             f"{len(tl.migrations)} migrations")
    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-label="{esc(label)}">',
             '<defs><marker id="tl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z"/></marker></defs>']
    if not tl.hosts:
        parts.append(f'<text class="tl-empty" x="{width / 2}" y="{AXIS_H + 20}" '
                     'text-anchor="middle">No hook calls in this time range</text>')
    parts += _lanes(tl, sc, width) + _axis(tl, sc, height) + _bars(tl, sc)
    parts += _migrations(tl, sc) + _marks(tl, sc)
    parts.append("</svg>")
    return "\n".join(parts)


def density_svg(density: dict, href, width: int = 960) -> str:
    """The guest page's picture when its range holds too many calls to draw a bar per boot
    (``app.services.guests.guest_density``): a lane per host, a column per time bucket with
    calls, its height the bucket's calls against the busiest bucket, its colour the worst
    outcome in it, and the aborted (cross) / killed or timed-out (triangle) marks as on the
    boot timeline. Each column links to ``href(start, end)``: the page narrowed to it."""
    hosts = [lane["host"] for lane in density["hosts"]]
    tl = Timeline(t0=parse_iso(density["since"]), t1=parse_iso(density["until"]), hosts=hosts)
    height = AXIS_H + max(len(hosts), 1) * LANE_H + 4
    sc = _Scale(tl, width)
    peak = max((b["total"] for lane in density["hosts"] for b in lane["buckets"]), default=0)
    label = (f"Calls per host from {tl.t0:%Y-%m-%d %H:%M}Z to {tl.t1:%Y-%m-%d %H:%M}Z: "
             f"{density['total']} calls on {len(hosts)} hosts, "
             f"{density['step_seconds'] // 60} minutes per column")
    parts = [f'<svg class="timeline density" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{esc(label)}">']
    parts += _lanes(tl, sc, width) + _axis(tl, sc, height)
    for lane in density["hosts"]:
        base = sc.y(lane["host"]) + LANE_H - 4
        for b in lane["buckets"]:
            if not b["total"]:
                continue
            start, end = parse_iso(b["start"]), parse_iso(b["end"])
            x1, x2 = sc.x(start), sc.x(end)
            h = max(round((LANE_H - 8) * b["total"] / peak, 1), 2)
            counts = b["counts"]
            worst = max((o for o in counts if counts[o]),
                        key=lambda o: SEVERITY.get(o, 0), default="ok")
            inner = (f'<rect class="tl-bar o-{esc(worst)}" x="{x1}" y="{round(base - h, 1)}" '
                     f'width="{max(round(x2 - x1 - 1, 1), 1)}" height="{h}"/>')
            bad = [o for o in BAD if counts.get(o)]
            if bad:
                x, y = round((x1 + x2) / 2, 1), sc.y(lane["host"]) + 8
                inner += (f'<path class="tl-mark o-aborted" d="M{x - 4},{y - 4}L{x + 4},'
                          f'{y + 4}M{x + 4},{y - 4}L{x - 4},{y + 4}"/>' if "aborted" in bad else
                          f'<path class="tl-mark o-{esc(bad[0])}" '
                          f'd="M{x},{y - 5}L{x + 5},{y + 4}L{x - 5},{y + 4}Z"/>')
            said = ", ".join(f"{counts[o]} {o.replace('_', ' ')}" for o in counts if counts[o])
            title = (f"{lane['host']}: {b['total']} call{'s' if b['total'] != 1 else ''} "
                     f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}Z ({said}); open to see its boots")
            parts.append(f'<a href="{esc(href(b["start"], b["end"]))}"><title>{esc(title)}'
                         f"</title>{inner}</a>")
    parts.append("</svg>")
    return "\n".join(parts)

"""Server-rendered SVG for the host page (pure: the service's slots in, markup out).

Three panels over the same time axis: health (one cell per slot, its state as a CSS class
``hs-<state>`` and a letter-free pattern of heights so it reads without colour: down is a
full-height cell, lagging/refused three quarters, ok half, none nothing), the backlog (largest
spool depth per slot) and the lag (largest oldest-unsent age per slot), each scaled to its
own maximum, with outages shaded across all three. Text goes through ``esc``.
"""
from __future__ import annotations

from app.timeutil import parse_iso
from app.web.timeline_svg import AXIS_H, esc, tick_label, tick_step, ticks

LABEL_W = 110
PANEL_H = 46
GAP = 10
HEIGHTS = {"down": 1.0, "refused": 0.75, "lagging": 0.75, "ok": 0.5, "none": 0.0}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no report"
    return f"{value:g} {unit}" if unit == "events" else f"{value:.0f} s"


class _Axis:
    def __init__(self, since: str, until: str, width: int, slots: int):
        self.t0, self.t1 = parse_iso(since), parse_iso(until)
        self.plot_w, self.slots = width - LABEL_W - 10, max(slots, 1)
        self.span = max((self.t1 - self.t0).total_seconds(), 1e-6)

    def x(self, when) -> float:
        frac = (when - self.t0).total_seconds() / self.span
        return round(LABEL_W + min(max(frac, 0.0), 1.0) * self.plot_w, 1)

    def slot_x(self, i: int) -> tuple[float, float]:
        w = self.plot_w / self.slots
        return round(LABEL_W + i * w, 2), round(max(w - 0.5, 0.5), 2)


def _health(series: list, ax: _Axis, y: float) -> list[str]:
    out = [f'<text class="hc-label" x="6" y="{y + PANEL_H / 2 + 4}">health</text>']
    for i, slot in enumerate(series):
        state, (x, w) = slot["state"], ax.slot_x(i)
        h = PANEL_H * HEIGHTS.get(state, 0)
        if h:
            out.append(f'<rect class="hs-{esc(state)}" x="{x}" y="{y + PANEL_H - h}" '
                       f'width="{w}" height="{h}"><title>{esc(slot["start"])}: '
                       f'{esc(state)}</title></rect>')
    return out


def _bars(series: list, ax: _Axis, y: float, key: str, label: str, unit: str) -> list[str]:
    top = max((s[key] or 0 for s in series), default=0)
    out = [f'<text class="hc-label" x="6" y="{y + PANEL_H / 2}">{esc(label)}</text>',
           f'<text class="hc-max" x="6" y="{y + PANEL_H / 2 + 14}">max {esc(_fmt(top, unit))}'
           '</text>',
           f'<line class="hc-base" x1="{LABEL_W}" y1="{y + PANEL_H}" '
           f'x2="{LABEL_W + ax.plot_w}" y2="{y + PANEL_H}"/>']
    for i, slot in enumerate(series):
        value = slot[key]
        if value is None:
            continue
        x, w = ax.slot_x(i)
        h = max(PANEL_H * value / top, 1) if top else 1
        out.append(f'<rect class="hc-{key.split("_")[0]}" x="{x}" y="{y + PANEL_H - h}" '
                   f'width="{w}" height="{h}"><title>{esc(slot["start"])}: '
                   f'{esc(_fmt(value, unit))}</title></rect>')
    return out


def _outages(outages: list, ax: _Axis, height: float) -> list[str]:
    out = []
    for o in outages:
        x1 = ax.x(parse_iso(o["start"]))
        x2 = ax.x(parse_iso(o["end"])) if o["end"] else LABEL_W + ax.plot_w
        out.append(f'<rect class="hc-outage" x="{x1}" y="{AXIS_H}" width="{max(x2 - x1, 1)}" '
                   f'height="{height - AXIS_H}"><title>outage from {esc(o["start"])} to '
                   f'{esc(o["end"] or "now")}</title></rect>')
    return out


def _axis(ax: _Axis, height: float) -> list[str]:
    step, out = tick_step(ax.t1 - ax.t0), []
    for t in ticks(ax.t0, ax.t1):
        x = ax.x(t)
        out.append(f'<line class="tl-grid" x1="{x}" y1="{AXIS_H - 4}" x2="{x}" y2="{height}"/>')
        out.append(f'<text class="tl-tick" x="{x}" y="{AXIS_H - 8}" text-anchor="middle">'
                   f"{esc(tick_label(t, step))}</text>")
    return out


def host_charts_svg(series: list, outages: list, since: str, until: str, host: str,
                    width: int = 960) -> str:
    """Health, backlog and lag of one host over [since, until] as one SVG fragment."""
    ax = _Axis(since, until, width, len(series))
    ys = [AXIS_H + i * (PANEL_H + GAP) for i in range(3)]
    height = ys[-1] + PANEL_H + 4
    label = (f"{host}: health, spool backlog and lag from {since} to {until}; "
             f"{len(outages)} outage(s)")
    parts = [f'<svg class="host-charts" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{esc(label)}">']
    parts += _axis(ax, height) + _outages(outages, ax, height)
    parts += _health(series, ax, ys[0])
    parts += _bars(series, ax, ys[1], "spool_depth", "backlog", "events")
    parts += _bars(series, ax, ys[2], "oldest_unsent_age_s", "lag", "s")
    parts.append("</svg>")
    return "\n".join(parts)

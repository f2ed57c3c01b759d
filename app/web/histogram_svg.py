"""Server-rendered SVG of a histogram (app/services/histogram.py): pure, data in, markup out.

One column per bucket, stacked by outcome (ok at the bottom; colours from the stylesheet's
``o-<outcome>`` classes, as on the timeline). Each column is a link narrowing the page to its
bucket, so the picture works without script; hookaudit.js adds drag-to-narrow using the
``data-*`` attributes (the plot's x span in viewBox units and the range it shows).
"""
from __future__ import annotations

from collections.abc import Callable

from app.timeutil import parse_iso
from app.web.timeline_svg import esc, tick_label, tick_step, ticks

LEFT = 44              # px for the count labels
TOP = 8
AXIS_H = 18


def _column(b: dict, x: float, w: float, plot_h: float, peak: int, href: str) -> str:
    parts, y = [], TOP + plot_h
    for outcome, n in b["counts"].items():
        if not n:
            continue
        h = max(plot_h * n / peak, 1.0)
        y -= h
        parts.append(f'<rect class="hg-bar o-{esc(outcome)}" x="{x + 0.5:.1f}" y="{y:.1f}" '
                     f'width="{max(w - 1, 1):.1f}" height="{h:.1f}"/>')
    detail = ", ".join(f"{o.replace('_', ' ')} {n}" for o, n in b["counts"].items() if n)
    title = f"{b['start'][:19]}Z – {b['end'][:19]}Z: {b['total']} calls" + (
        f" ({detail})" if detail else "")
    # the hit area spans the column so a thin bar (or an empty bucket) is still clickable
    hit = (f'<rect class="hg-hit" x="{x:.1f}" y="{TOP}" width="{w:.1f}" height="{plot_h:.1f}"/>')
    return (f'<a class="hg-col" href="{esc(href)}" data-count="{b["total"]}">'
            f'<title>{esc(title)}</title>{hit}{"".join(parts)}</a>')


def _axes(h: dict, plot_w: float, plot_h: float, peak: int) -> list[str]:
    t0, t1 = parse_iso(h["since"]), parse_iso(h["until"])
    span = max((t1 - t0).total_seconds(), 1e-6)
    step = tick_step(t1 - t0)
    out = [f'<line class="hg-axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" '
           f'y2="{TOP + plot_h}"/>',
           f'<text class="hg-tick" x="{LEFT - 4}" y="{TOP + 9}" text-anchor="end">{peak}</text>',
           f'<text class="hg-tick" x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end">0</text>']
    for t in ticks(t0, t1):
        x = LEFT + (t - t0).total_seconds() / span * plot_w
        out.append(f'<text class="hg-tick" x="{x:.1f}" y="{TOP + plot_h + 14}" '
                   f'text-anchor="middle">{esc(tick_label(t, step))}</text>')
    return out


def histogram_svg(h: dict, href: Callable[[str, str], str], drag_base: str = "",
                  width: int = 960, height: int = 110) -> str:
    """The SVG for ``h``; ``href(start, end)`` is the link of a bucket's column."""
    plot_w, plot_h = width - LEFT - 8, height - TOP - AXIS_H
    buckets = h["buckets"]
    peak = max(h["max"], 1)
    t0, t1 = parse_iso(h["since"]), parse_iso(h["until"])
    span = max((t1 - t0).total_seconds(), 1e-6)
    label = (f"Histogram of {h['total']} calls from {h['since'][:19]}Z to {h['until'][:19]}Z, "
             f"{h['step_seconds']} s per bar, stacked by outcome")
    parts = [f'<svg class="histogram" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{esc(label)}" '
             f'data-since="{esc(h["since"])}" data-until="{esc(h["until"])}" '
             f'data-plot-x="{LEFT}" data-plot-w="{plot_w}" data-view-w="{width}" '
             f'data-base="{esc(drag_base)}">']
    parts += _axes(h, plot_w, plot_h, peak)
    for b in buckets:
        x0 = (parse_iso(b["start"]) - t0).total_seconds() / span * plot_w
        x1 = (parse_iso(b["end"]) - t0).total_seconds() / span * plot_w
        parts.append(_column(b, LEFT + x0, max(x1 - x0, 1.0), plot_h, peak,
                             href(b["start"], b["end"])))
    if not h["total"]:
        parts.append(f'<text class="hg-empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
                     'text-anchor="middle">No hook calls in this time range</text>')
    parts.append(f'<rect class="hg-sel" x="0" y="{TOP}" width="0" height="{plot_h}"/></svg>')
    return "\n".join(parts)

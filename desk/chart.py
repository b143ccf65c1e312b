"""A small server-side SVG chart of PD and grade over time (no JavaScript, prints and screenshots as is)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from html import escape

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 640, 220, 56, 40, 16, 40


def pd_chart(points: Sequence[tuple[date, float, str]]) -> str:
    """SVG: PD (log scale) as a step line over the rating versions' start dates, each point labelled with
    its grade. `points` are (date, pd, grade) in date order."""
    if not points:
        return '<svg class="pd-chart" role="img" aria-label="no ratings"></svg>'
    pds = [min(max(p, 1e-5), 1.0) for _, p, _ in points]
    lo, hi = math.log10(min(pds)) - 0.2, math.log10(max(pds)) + 0.2
    first, last = points[0][0].toordinal(), max(points[-1][0].toordinal(), points[0][0].toordinal() + 1)

    def x(d: date) -> float:
        return PAD_L + (d.toordinal() - first) / (last - first) * (WIDTH - PAD_L - PAD_R)

    def y(pd: float) -> float:
        return PAD_T + (hi - math.log10(pd)) / (hi - lo) * (HEIGHT - PAD_T - PAD_B)

    path, labels = [], []
    for i, ((d, _, grade), pd) in enumerate(zip(points, pds, strict=True)):
        if i:
            path.append(f"L{x(d):.1f},{y(pds[i - 1]):.1f}")
        path.append(f"{'M' if i == 0 else 'L'}{x(d):.1f},{y(pd):.1f}")
        labels.append(
            f'<circle cx="{x(d):.1f}" cy="{y(pd):.1f}" r="3"/>'
            f'<text x="{x(d) + 4:.1f}" y="{y(pd) - 6:.1f}" class="grade">{escape(grade)}</text>'
        )
    ticks = [10**e for e in range(math.floor(lo), math.ceil(hi) + 1) if lo <= e <= hi]
    axis = "".join(
        f'<text x="4" y="{y(t) + 4:.1f}" class="tick">{t:.2%}</text>'
        f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{y(t):.1f}" y2="{y(t):.1f}" class="grid"/>'
        for t in ticks
    )
    dates = (
        f'<text x="{PAD_L}" y="{HEIGHT - 12}" class="tick">{points[0][0].isoformat()}</text>'
        f'<text x="{WIDTH - PAD_R}" y="{HEIGHT - 12}" class="tick" text-anchor="end">'
        f"{points[-1][0].isoformat()}</text>"
    )
    return (
        f'<svg class="pd-chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="PD and grade over time">{axis}{dates}'
        f'<path d="{" ".join(path)}" class="pd-line"/>{"".join(labels)}</svg>'
    )

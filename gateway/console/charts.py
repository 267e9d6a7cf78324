"""Bar charts as inline SVG, drawn on the server: no chart library and no script, so the
console's CSP stays ``script-src 'self'`` (colours come from console.css classes)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 160, 44, 22, 10


def _nice_max(value: int) -> int:
    """The axis maximum: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def bar_chart(labels: Sequence[str], values: Sequence[int], kind: str) -> Markup:
    """One series as bars with a labelled axis; each bar has a <title> with its value
    (what a screen reader and a hover show)."""
    top = max(2, _nice_max(max(values, default=0)))  # 2 at least: a whole mid-axis label
    plot_w, plot_h = WIDTH - PAD_LEFT, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(1, len(values))
    bar_w = max(1.0, slot * 0.7)
    parts = [(f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="bars" '
              f'data-kind="{escape(kind)}" aria-label="{escape(kind)}">')]
    for frac in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - frac)
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">'
                     f'{int(top * frac)}</text>')
    every = max(1, len(labels) // 10)
    for i, (label, value) in enumerate(zip(labels, values)):
        h = plot_h * value / top
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        parts.append(f'<rect class="bar-{escape(kind)}" x="{x:.1f}" '
                     f'y="{PAD_TOP + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                     f'<title>{escape(label)}: {value}</title></rect>')
        if i % every == 0:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 6}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

"""The performance page's charts: SVG written by hand (no plotting library)."""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape

from bench.sections import TIMES, num

GREEN, RED, GREY, INK = "#2e7d32", "#c62828", "#9e9e9e", "#212121"
SERIES = ["#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32", "#c62828", "#00838f"]


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
        f"<title>{escape(title)}</title>\n"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>\n'
        + "\n".join(body)
        + "\n</svg>\n"
    )


def _text(x: float, y: float, text: str, **attrs: Any) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" {extra}>{escape(text)}</text>'


def summary_chart(checks: list[dict[str, Any]]) -> str:
    """One bar per target: how far the figure is from it (log scale; left of the line
    is inside the target)."""
    rows = [c for c in checks if c.get("target") and c.get("passed") is not None]
    left, right, row_h, top = 450, 150, 22, 40
    plot_w = 420
    width, height = left + plot_w + right, top + row_h * len(rows) + 40
    lo, hi = -2.0, 2.0  # 0.01x .. 100x of the target

    def x_of(share: float) -> float:
        v = min(max(math.log10(max(share, 1e-9)), lo), hi)
        return left + (v - lo) / (hi - lo) * plot_w

    body = [
        _text(
            10,
            20,
            "Each figure against its target (log scale): left of the line is within it",
            font_weight="bold",
        ),
    ]
    for tick, label in (
        (0.01, "1/100"),
        (0.1, "1/10"),
        (1, "target"),
        (10, "10" + TIMES),
        (100, "100" + TIMES),
    ):
        x = x_of(tick)
        colour = INK if tick == 1 else "#e0e0e0"
        body.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" '
            f'y2="{top + row_h * len(rows)}" stroke="{colour}"/>'
        )
        body.append(_text(x, top + row_h * len(rows) + 16, label, text_anchor="middle", fill=GREY))
    for i, check in enumerate(rows):
        target = check["target"]
        value = check["value"] if target["on"] == "value" else check["ratio"]
        if value is None:
            continue
        if check["unit"] == "yes/no":
            share = 0.5 if value >= 1 else 2.0
        elif target["op"] == "<=":
            share = value / target["value"] if target["value"] else math.inf
        else:
            share = target["value"] / value if value else math.inf
        y = top + i * row_h
        colour = GREEN if check["passed"] else RED
        x0, x1 = x_of(1e-9), x_of(share)
        body.append(
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{row_h - 8}" fill="{colour}" opacity="0.8"/>'
        )
        slow = " (bench-full)" if check.get("bench", "").endswith("_slow") else ""
        label = f"{check['metric']}. {check['label']}{slow}"
        if len(label) > 70:
            label = label[:69] + "…"
        body.append(_text(left - 8, y + row_h / 2 + 4, label, text_anchor="end"))
        shown = num(value, TIMES if target["on"] == "ratio" else check["unit"])
        body.append(_text(left + plot_w + 8, y + row_h / 2 + 4, shown, fill=colour))
    return _svg(width, height, body, "AlarmBridge: every figure against its target")


def percentile_chart(
    panels: list[tuple[str, dict[str, list[list[float]]]]], title: str, x_label: str
) -> str:
    """Latency percentile plots, one panel per entry: x = latency (log), y = percentile
    on a tail scale (50, 90, 99, 99.9 %, max evenly spaced)."""
    panel_w, panel_h, margin_l, margin_t, gap = 300, 240, 60, 50, 30
    width = margin_l + len(panels) * (panel_w + gap) + 20
    height = margin_t + panel_h + 90
    all_values = [v for _, series in panels for curve in series.values() for _, v in curve if v > 0]
    if not all_values:
        return _svg(width, height, [_text(10, 20, "no data")], title)
    x_lo = math.floor(math.log10(min(all_values)))
    x_hi = math.ceil(math.log10(max(all_values)))
    if x_hi == x_lo:
        x_hi += 1

    def y_of(p: float) -> float:
        tail = -math.log10(max(1 - p / 100, 1e-4)) if p < 100 else 3.3
        return margin_t + panel_h - min(tail, 3.3) / 3.3 * panel_h

    body = [_text(10, 20, title, font_weight="bold")]
    names: list[str] = []
    for _, series in panels:
        for name in series:
            if name not in names:
                names.append(name)
    for k, (panel_title, series) in enumerate(panels):
        ox = margin_l + k * (panel_w + gap)

        def x_of(v: float, ox: float = ox) -> float:
            lv = math.log10(max(v, 10.0**x_lo))
            return ox + (lv - x_lo) / (x_hi - x_lo) * panel_w

        body.append(
            f'<rect x="{ox}" y="{margin_t}" width="{panel_w}" height="{panel_h}" '
            f'fill="none" stroke="#bdbdbd"/>'
        )
        body.append(
            _text(
                ox + panel_w / 2,
                margin_t - 8,
                panel_title,
                text_anchor="middle",
                font_weight="bold",
            )
        )
        for e in range(x_lo, x_hi + 1):
            x = x_of(10.0**e)
            body.append(
                f'<line x1="{x:.1f}" y1="{margin_t}" x2="{x:.1f}" '
                f'y2="{margin_t + panel_h}" stroke="#eeeeee"/>'
            )
            body.append(
                _text(x, margin_t + panel_h + 14, num(10.0**e), text_anchor="middle", fill=GREY)
            )
        for p, label in ((50, "p50"), (90, "p90"), (99, "p99"), (99.9, "p99.9"), (100, "max")):
            y = y_of(p)
            body.append(
                f'<line x1="{ox}" y1="{y:.1f}" x2="{ox + panel_w}" y2="{y:.1f}" stroke="#eeeeee"/>'
            )
            if k == 0:
                body.append(_text(ox - 6, y + 4, label, text_anchor="end", fill=GREY))
        for name, curve in series.items():
            colour = SERIES[names.index(name) % len(SERIES)]
            points = " ".join(f"{x_of(v):.1f},{y_of(p):.1f}" for p, v in curve if p >= 50)
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        body.append(
            _text(
                ox + panel_w / 2, margin_t + panel_h + 32, x_label, text_anchor="middle", fill=GREY
            )
        )
    legend_y = margin_t + panel_h + 56
    x = margin_l
    for i, name in enumerate(names):
        colour = SERIES[i % len(SERIES)]
        step = 40 + 7 * len(name)
        if x + step > width - 10 and x > margin_l:  # wrap the legend
            x, legend_y = margin_l, legend_y + 20
        body.append(
            f'<line x1="{x}" y1="{legend_y}" x2="{x + 24}" y2="{legend_y}" '
            f'stroke="{colour}" stroke-width="3"/>'
        )
        body.append(_text(x + 30, legend_y + 4, name))
        x += step
    height = legend_y + 20
    return _svg(width, height, body, title)


# ------------------------------------------------------------------- sections

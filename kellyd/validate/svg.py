"""Small inline SVG charts for the HTML reports: no scripts, no external resources.

Every function returns one `<svg>` element as text, sized by a viewBox so it
scales with the page. Coordinates are in SVG user units (px at 100 % zoom).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Mapping, Sequence

# Okabe & Ito's colour-blind-safe palette, in the order classes get them.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
                            "#7F7F7F")
AUGMENTED_OPACITY = 0.45
_CHAR_W = 6.6  # average width of a 12 px sans-serif character
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def color_for(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def text_color_on(fill: str) -> str:
    """Black or white, whichever reads better on the `#rrggbb` fill (relative luminance, WCAG)."""
    channels = [int(fill[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#111" if luminance > 0.35 else "#fff"


def class_colors(labels: Sequence[str]) -> dict[str, str]:
    """A stable colour per class label, in the order given."""
    return {label: color_for(i) for i, label in enumerate(labels)}


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, *, anchor: str = "start", size: int = 12, fill: str = "#333",
          weight: str = "normal", extra: str = "") -> str:
    return (f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}" '
            f'font-weight="{weight}"{extra}>{escape(content)}</text>')


def _svg(width: float, height: float, body: Sequence[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_num(width)} {_num(height)}" '
            f'width="100%" style="max-width:{_num(width)}px" role="img" aria-label="{escape(title)}" {_FONT}>'
            f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= value (1 for value <= 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


@dataclass(frozen=True)
class Segment:
    value: float
    color: str
    name: str
    opacity: float = 1.0


@dataclass(frozen=True)
class BarRow:
    """One horizontal bar: stacked segments, and an optional target drawn as a marker."""

    label: str
    segments: tuple[Segment, ...]
    target: float | None = None


# A log axis once the largest bar (or target) is this many times the smallest non-zero bar:
# below it a linear axis reads best; above it small classes would be invisible slivers.
LOG_SCALE_RATIO = 20.0


def wants_log_scale(values: Sequence[float]) -> bool:
    """Whether values spanning orders of magnitude need a log axis (see LOG_SCALE_RATIO)."""
    positive = [v for v in values if v > 0]
    return len(positive) >= 2 and max(positive) / min(positive) >= LOG_SCALE_RATIO


def _log_ticks(scale_max: float) -> list[float]:
    ticks = [0.0]
    power = 1.0
    while power <= scale_max:
        ticks.append(power)
        power *= 10
    return ticks


def bar_chart(rows: Sequence[BarRow], *, title: str, width: int = 900, row_h: int = 26,
              log_scale: bool | None = None) -> str:
    """Horizontal stacked bars with the total at the end and a dashed target marker per row.

    log_scale: a log axis (log10(1 + value)), so a class of 12 beside a target of 1,000 still
    shows; None chooses it when the bars and targets span LOG_SCALE_RATIO or more.
    """
    label_w = min(240.0, max(60.0, max((len(r.label) for r in rows), default=4) * (_CHAR_W + 0.8) + 16))
    right_pad = 110.0
    plot_w = width - label_w - right_pad
    top, axis_h = 8.0, 22.0
    height = top + max(1, len(rows)) * row_h + axis_h
    totals = [sum(s.value for s in r.segments) for r in rows]
    if log_scale is None:
        log_scale = wants_log_scale(totals + [r.target or 0 for r in rows])
    scale_max = nice_max(max(totals + [r.target or 0 for r in rows] + [1]))

    def x_of(value: float) -> float:
        if log_scale:
            return plot_w * math.log10(1 + max(0.0, value)) / math.log10(1 + scale_max)
        return plot_w * value / scale_max

    body: list[str] = []
    ticks = _log_ticks(scale_max) if log_scale else [scale_max * tick / 4 for tick in range(5)]
    for value in ticks:
        x = label_w + x_of(value)
        body.append(f'<line x1="{_num(x)}" y1="{_num(top)}" x2="{_num(x)}" y2="{_num(height - axis_h)}" '
                    f'stroke="#e3e3e3"/>')
        body.append(_text(x, height - 6, f"{value:,.0f}", anchor="middle", size=11, fill="#777"))
    if log_scale:
        body.append(_text(width - 4, height - 6, "log scale", anchor="end", size=10, fill="#999"))
    for i, row in enumerate(rows):
        y = top + i * row_h
        body.append(_text(label_w - 8, y + row_h * 0.62, row.label, anchor="end"))
        x = label_w
        done = 0.0
        for seg in row.segments:
            w = x_of(done + seg.value) - x_of(done)
            done += seg.value
            if w > 0:
                body.append(f'<rect x="{_num(x)}" y="{_num(y + 4)}" width="{_num(w)}" height="{row_h - 8}" '
                            f'fill="{seg.color}" fill-opacity="{seg.opacity}"><title>{escape(seg.name)}: '
                            f'{seg.value:,.0f}</title></rect>')
            x += w
        total = sum(s.value for s in row.segments)
        caption = f"{total:,.0f}" + (f" / {row.target:,.0f}" if row.target else "")
        if row.target:
            tx = label_w + x_of(row.target)
            body.append(f'<line x1="{_num(tx)}" y1="{_num(y + 1)}" x2="{_num(tx)}" y2="{_num(y + row_h - 1)}" '
                        f'stroke="#222" stroke-width="2" stroke-dasharray="3 2"/>')
        body.append(_text(max(x, label_w + x_of(row.target or 0)) + 6, y + row_h * 0.62,
                          caption, size=11, fill="#444"))
    return _svg(width, height, body, title)


def share_bars(rows: Sequence[tuple[str, Sequence[tuple[str, int]]]], colors: Mapping[str, str], *,
               title: str, width: int = 900, row_h: int = 30) -> str:
    """One 100 % bar per row (e.g. per split) divided by class, with the row total on the right."""
    label_w, right_pad = 60.0, 70.0
    plot_w = width - label_w - right_pad
    height = 8 + max(1, len(rows)) * row_h + 4
    body: list[str] = []
    for i, (name, parts) in enumerate(rows):
        y = 8 + i * row_h
        total = sum(n for _, n in parts)
        body.append(_text(label_w - 8, y + row_h * 0.6, name, anchor="end", weight="600"))
        if total == 0:
            body.append(f'<rect x="{_num(label_w)}" y="{_num(y + 4)}" width="{_num(plot_w)}" height="{row_h - 8}" '
                        f'fill="none" stroke="#c62828" stroke-dasharray="4 3"/>')
            body.append(_text(label_w + plot_w / 2, y + row_h * 0.6, "empty", anchor="middle", fill="#c62828"))
        x = label_w
        for label, n in parts:
            if n <= 0 or total == 0:
                continue
            w = plot_w * n / total
            fill = colors.get(label, "#999999")
            body.append(f'<rect x="{_num(x)}" y="{_num(y + 4)}" width="{_num(w)}" height="{row_h - 8}" '
                        f'fill="{fill}"><title>{escape(label or "(unlabelled)")}: {n:,} '
                        f'({n / total:.0%})</title></rect>')
            if w > 34:
                body.append(_text(x + w / 2, y + row_h * 0.6, f"{n / total:.0%}", anchor="middle", size=11,
                                  fill=text_color_on(fill), weight="600"))
            x += w
        body.append(_text(label_w + plot_w + 8, y + row_h * 0.6, f"{total:,}", size=11, fill="#444"))
    return _svg(width, height, body, title)


def legend(colors: Mapping[str, str]) -> str:
    """An HTML legend (not SVG) for the class colours; wraps with the page."""
    items = "".join(f'<span class="key"><i style="background:{c}"></i>{escape(label or "(unlabelled)")}</span>'
                    for label, c in colors.items())
    return f'<div class="legend">{items}</div>'


def column_chart(counts: Sequence[tuple[str, int]], *, title: str, color: str = PALETTE[0],
                 width: int = 400, height: int = 170) -> str:
    """Vertical bars, one per category, with the count above each non-empty bar."""
    bottom, top = 22.0, 16.0
    plot_h = height - bottom - top
    n = max(1, len(counts))
    slot = width / n
    bar_w = min(36.0, slot * 0.72)
    peak = max([c for _, c in counts] + [1])
    body = [f'<line x1="0" y1="{_num(height - bottom)}" x2="{width}" y2="{_num(height - bottom)}" stroke="#bbb"/>']
    for i, (label, count) in enumerate(counts):
        cx = slot * i + slot / 2
        h = plot_h * count / peak
        if count > 0:
            body.append(f'<rect x="{_num(cx - bar_w / 2)}" y="{_num(height - bottom - h)}" width="{_num(bar_w)}" '
                        f'height="{_num(h)}" rx="2" fill="{color}"><title>{escape(label)}: {count:,}</title></rect>')
            body.append(_text(cx, height - bottom - h - 4, f"{count:,}", anchor="middle", size=10, fill="#555"))
        size = 11 if len(label) * 6 < slot else 9
        body.append(_text(cx, height - 7, label, anchor="middle", size=size, fill="#555"))
    return _svg(width, height, body, title)


@dataclass(frozen=True)
class Series:
    """A line: (unix time in s, value) points, drawn in `color`."""

    name: str
    color: str
    points: tuple[tuple[float, float], ...]


# Tick steps for time axes, in s: 1, 5, 10, 15, 30 min; 1, 2, 3, 6, 12 h; 1, 2, 7 days.
TIME_STEPS_S: tuple[int, ...] = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800)


def time_ticks(t0_s: float, t1_s: float, max_ticks: int = 6) -> list[float]:
    """Round UTC times (multiples of a step from TIME_STEPS_S) inside [t0_s, t1_s], at most max_ticks."""
    span = max(t1_s - t0_s, 1.0)
    step = next((s for s in TIME_STEPS_S if span / s <= max_ticks), TIME_STEPS_S[-1])
    first = math.ceil(t0_s / step) * step
    return [float(t) for t in range(int(first), int(t1_s) + 1, step)][:max_ticks + 1]


def _time_label(t_s: float, span_s: float) -> str:
    moment = datetime.fromtimestamp(t_s, tz=timezone.utc)
    return moment.strftime("%H:%M" if span_s <= 86400 else "%m-%d %H:%M")


def line_chart(series: Sequence[Series], *, title: str, unit: str, width: int = 900, height: int = 200) -> str:
    """Lines over time sharing one y axis starting at 0; x ticks in UTC."""
    left, right, top, bottom = 52.0, 14.0, 12.0, 26.0
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [t for s in series for t, _ in s.points]
    ys = [v for s in series for _, v in s.points if math.isfinite(v)]
    body: list[str] = []
    if not xs:
        body.append(_text(width / 2, height / 2, "no data yet", anchor="middle", fill="#777"))
        return _svg(width, height, body, title)
    t0, t1 = min(xs), max(xs)
    span = max(t1 - t0, 1.0)
    y_max = nice_max(max(ys + [0.0]))
    for tick in range(5):
        value = y_max * tick / 4
        y = top + plot_h * (1 - tick / 4)
        body.append(f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(width - right)}" y2="{_num(y)}" '
                    f'stroke="#e3e3e3"/>')
        body.append(_text(left - 6, y + 4, f"{value:,.4g}", anchor="end", size=10, fill="#777"))
    for t in time_ticks(t0, t1):
        x = left + plot_w * (t - t0) / span
        body.append(f'<line x1="{_num(x)}" y1="{_num(top + plot_h)}" x2="{_num(x)}" y2="{_num(top + plot_h + 4)}" '
                    f'stroke="#bbb"/>')
        body.append(_text(x, height - 8, _time_label(t, span), anchor="middle", size=10, fill="#777"))
    body.append(_text(left, top - 2 + 10, unit, size=10, fill="#999", extra=' dx="4"'))
    for s in series:
        coords = [(left + plot_w * (t - t0) / span, top + plot_h * (1 - (v if math.isfinite(v) else 0) / y_max))
                  for t, v in s.points]
        if len(coords) == 1:
            x, y = coords[0]
            body.append(f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3" fill="{s.color}"/>')
        else:
            path = " ".join(f"{_num(x)},{_num(y)}" for x, y in coords)
            body.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2" '
                        f'stroke-linejoin="round"><title>{escape(s.name)}</title></polyline>')
    return _svg(width, height, body, title)

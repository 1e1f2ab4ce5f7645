"""Server-rendered inline SVG charts: no JavaScript library, no CDN, so pages work offline.

Only classes style the SVG (the CSP forbids inline ``style=""``); every text node is escaped.
A ``None`` value is a gap (e.g. a pending score), never a zero. Charts are drawn in percentages of
their plot area rather than in a scaled viewBox, so axis text keeps its CSS size on any screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

Value = float | None


@dataclass(frozen=True)
class Point:
    """One x position of a chart: its label, value, an optional CSS class (e.g. a recovery zone) and tooltip.

    ``x`` places the point on a time axis (in slots, e.g. 3.75 = the fourth day at 18:00); without it
    the n-th point sits in the middle of the n-th slot.
    """

    label: str
    value: Value
    css: str = ""
    title: str = ""
    x: float | None = None


def _svg(parts: Sequence[str]) -> Markup:
    # Safe by construction: every label, class and tooltip interpolated above went through escape(),
    # and every number through _fmt().
    return Markup("".join(parts))  # noqa: S704


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _scale(lo: float, hi: float, top: float, bottom: float) -> Callable[[float], float]:
    span = hi - lo or 1.0

    def y(v: float) -> float:
        return bottom - (v - lo) / span * (bottom - top)

    return y


def _bounds(values: Sequence[float], y_min: float | None, y_max: float | None) -> tuple[float, float]:
    lo = min(values) if y_min is None else y_min
    hi = max(values) if y_max is None else y_max
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    return lo, hi


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 × 10^k) covering ``[lo, hi]``."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    last = math.ceil(hi / step) * step
    n = round((last - first) / step)
    return [round(first + i * step, 6) for i in range(n + 1)]


def _segments(coords: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Split a series at gaps so a missing value is not drawn as a line through zero."""
    out: list[list[tuple[float, float]]] = []
    current: list[tuple[float, float]] = []
    for c in coords:
        if c is None:
            if current:
                out.append(current)
            current = []
        else:
            current.append(c)
    if current:
        out.append(current)
    return out


def sparkline(
    values: Sequence[Value],
    *,
    label: str,
    css: str = "",
    y_min: float | None = None,
    y_max: float | None = None,
    min_span: float = 0.0,
    width: int = 120,
    height: int = 32,
) -> Markup:
    """A small trend line (oldest first) with the last point marked; empty when there is no value."""
    present = [v for v in values if v is not None]
    if not present:
        return Markup("")
    pad = 3.0
    lo, hi = axis_range(present, y_min=y_min, y_max=y_max, min_span=min_span)
    y = _scale(lo, hi, pad, height - pad)
    n = len(values)
    step = (width - 2 * pad) / max(n - 1, 1)
    coords = [None if v is None else (pad + i * step, y(v)) for i, v in enumerate(values)]
    parts = [
        f'<svg class="spark {escape(css)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="none">'
    ]
    for seg in _segments(coords):
        pts = " ".join(f"{_fmt(px)},{_fmt(py)}" for px, py in seg)
        parts.append(f'<polyline class="spark-line" points="{pts}"/>')
    last = next((c for c in reversed(coords) if c is not None), None)
    if last is not None:
        # A zero-length round-capped stroke stays round even though the viewBox is stretched.
        parts.append(f'<path class="spark-dot" d="M{_fmt(last[0])},{_fmt(last[1])} h0"/>')
    parts.append("</svg>")
    return _svg(parts)


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _open(label: str, css: str) -> str:
    # No viewBox: the chart is laid out in percentages of its plot area (the SVG's content box; the
    # axis labels sit in its CSS padding), so text stays at its CSS pixel size on every screen
    # instead of shrinking with the chart on a phone or growing past the card's title on a desktop.
    return (
        f'<svg class="chart {escape(css)}" role="img" aria-label="{escape(label)}" overflow="visible">'
        f"<title>{escape(label)}</title>"
    )


def _y_axis(ticks: Sequence[float], y: Callable[[float], float], unit: str) -> list[str]:
    parts = []
    for t in ticks:
        ty = _pct(y(t))
        parts.append(f'<line class="grid" x1="0" x2="100%" y1="{ty}" y2="{ty}"/>')
        parts.append(
            f'<text class="axis y" x="-6" y="{ty}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(_fmt(t))}{escape(unit)}</text>"
        )
    return parts


def _x_axis(ticks: Sequence[tuple[float, str]], slots: int) -> list[str]:
    # Every other label is "minor": a phone's narrow chart hides those (style.css), keeping about four.
    parts = []
    for k, (pos, text) in enumerate(ticks):
        minor = " minor" if k % 2 else ""
        parts.append(
            f'<text class="axis x{minor}" x="{_pct(pos / slots)}" y="100%" dy="18" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    return parts


def slot_ticks(labels: Sequence[str], max_labels: int = 8) -> list[tuple[float, str]]:
    """Evenly spaced x labels for one slot per label: every k-th slot centre, at most ``max_labels``."""
    n = len(labels)
    every = max(1, -(-n // max_labels))
    return [(i + 0.5, labels[i]) for i in range(0, n, every) if labels[i]]


def axis_range(
    values: Sequence[float],
    *,
    y_min: float | None = None,
    y_max: float | None = None,
    min_span: float = 0.0,
) -> tuple[float, float]:
    """The y range to draw: the data (or fixed ends), widened around its middle to ``min_span``.

    A resting heart rate of 52-55 bpm drawn on a 52-55 axis makes a 1-bpm wiggle fill the chart;
    a minimum span per metric keeps such noise small, as it is.
    """
    lo, hi = _bounds(values, y_min, y_max)
    span = hi - lo
    if span < min_span:
        grow = min_span - span
        lo, hi = lo - grow / 2, hi + grow / 2
        if y_min is not None and lo < y_min:
            lo, hi = y_min, y_min + min_span
        elif y_max is not None and hi > y_max:
            lo, hi = y_max - min_span, y_max
    return lo, hi


def _y_frame(
    lo: float, hi: float, ticks: Sequence[float] | None
) -> tuple[float, float, Sequence[float], Callable[[float], float]]:
    if ticks is None:
        ticks = nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    return lo, hi, ticks, _scale(lo, hi, 0.0, 1.0)


def _positions(points: Sequence[Point]) -> list[float]:
    return [i + 0.5 if p.x is None else p.x for i, p in enumerate(points)]


def line_chart(
    points: Sequence[Point],
    *,
    label: str,
    unit: str = "",
    y_min: float | None = None,
    y_max: float | None = None,
    min_span: float = 0.0,
    ticks: Sequence[float] | None = None,
    bands: Sequence[tuple[float, float, str]] = (),
    css: str = "",
) -> Markup:
    """A line chart, one slot per point (oldest first), dots coloured by their class; gaps stay gaps."""
    present = [p.value for p in points if p.value is not None]
    if not present:
        return Markup("")
    lo, hi, ticks, y = _y_frame(*axis_range(present, y_min=y_min, y_max=y_max, min_span=min_span), ticks)
    parts = [_open(label, css)]
    for b_lo, b_hi, b_css in bands:
        top, bottom = y(min(b_hi, hi)), y(max(b_lo, lo))
        parts.append(
            f'<rect class="band {escape(b_css)}" x="0" y="{_pct(top)}" width="100%" '
            f'height="{_pct(max(bottom - top, 0))}"/>'
        )
    parts.extend(_y_axis(ticks, y, unit))
    n = len(points)
    xs = [pos / n for pos in _positions(points)]
    coords = [None if p.value is None else (xs[i], y(p.value)) for i, p in enumerate(points)]
    # The line lives in a stretched 1000×1000 box (a path cannot use percentages); its stroke does not
    # stretch (vector-effect in style.css).
    parts.append('<svg viewBox="0 0 1000 1000" preserveAspectRatio="none" overflow="visible">')
    for seg in _segments(coords):
        d = "M" + " L".join(f"{_fmt(px * 1000)},{_fmt(py * 1000)}" for px, py in seg)
        parts.append(f'<path class="line" d="{d}"/>')
    parts.append("</svg>")
    radius = 4 if n <= 31 else 2.5
    for p, c in zip(points, coords, strict=True):
        if c is None:
            continue
        tip = p.title or f"{p.label}: {_fmt(p.value or 0)}{unit}"
        parts.append(
            f'<circle class="dot {escape(p.css)}" cx="{_pct(c[0])}" cy="{_pct(c[1])}" r="{radius}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.extend(_x_axis(slot_ticks([p.label for p in points]), n))
    parts.append("</svg>")
    return _svg(parts)


def bar_chart(
    points: Sequence[Point],
    *,
    label: str,
    unit: str = "",
    y_min: float = 0.0,
    y_max: float | None = None,
    ticks: Sequence[float] | None = None,
    slots: int | None = None,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    bar_width: float = 0.7,
    css: str = "",
) -> Markup:
    """A bar chart (points oldest first); a missing value leaves an empty slot, not a zero bar.

    By default each point has its own slot, labelled with its label. On a time axis, ``slots`` is the
    number of days shown, each point's ``x`` its day (and time of day) in them, and ``x_ticks`` the
    (position, label) pairs under the axis; ``bar_width`` is in slots.
    """
    present = [p.value for p in points if p.value is not None]
    if not present:
        return Markup("")
    top_value = y_max if y_max is not None else max(present) * 1.1 or 1.0
    lo, hi, ticks, y = _y_frame(*_bounds([*present, y_min], y_min, top_value), ticks)
    parts = [_open(label, css)]
    parts.extend(_y_axis(ticks, y, unit))
    n = slots if slots is not None else len(points)
    width = bar_width / max(n, 1)
    base = y(lo)
    for p, pos in zip(points, _positions(points), strict=True):
        if p.value is None:
            continue
        top = y(min(max(p.value, lo), hi))
        tip = p.title or f"{p.label}: {_fmt(p.value)}{unit}"
        left = min(max(pos / n - width / 2, 0.0), 1.0 - width)
        height = _pct(max(base - top, 0.002))
        parts.append(
            f'<rect class="bar {escape(p.css)}" x="{_pct(left)}" y="{_pct(top)}" '
            f'width="{_pct(width)}" height="{height}"><title>{escape(tip)}</title></rect>'
        )
    parts.extend(_x_axis(x_ticks if x_ticks is not None else slot_ticks([p.label for p in points]), n))
    parts.append("</svg>")
    return _svg(parts)


@dataclass(frozen=True)
class Stack:
    """One stacked bar: its label, segments (value, CSS class) bottom up, and a tooltip."""

    label: str
    segments: tuple[tuple[float, str], ...]
    title: str = ""


def stacked_bar_chart(
    stacks: Sequence[Stack | None],
    *,
    label: str,
    unit: str = "",
    ticks: Sequence[float] | None = None,
    css: str = "",
) -> Markup:
    """Stacked bars (oldest first), e.g. sleep stages per night; ``None`` leaves an empty slot."""
    totals = [sum(v for v, _ in s.segments) for s in stacks if s is not None]
    if not any(totals):
        return Markup("")
    _, _, ticks, y = _y_frame(0.0, max(totals), ticks)
    parts = [_open(label, css)]
    parts.extend(_y_axis(ticks, y, unit))
    n = len(stacks)
    width = 0.7 / max(n, 1)
    for i, s in enumerate(stacks):
        if s is None:
            continue
        acc = 0.0
        parts.append("<g>")
        if s.title:
            parts.append(f"<title>{escape(s.title)}</title>")
        for value, seg_css in s.segments:
            top, bottom = y(acc + value), y(acc)
            acc += value
            parts.append(
                f'<rect class="bar {escape(seg_css)}" x="{_pct((i + 0.5) / n - width / 2)}" y="{_pct(top)}" '
                f'width="{_pct(width)}" height="{_pct(max(bottom - top, 0))}"/>'
            )
        parts.append("</g>")
    parts.extend(_x_axis(slot_ticks([s.label if s else "" for s in stacks]), n))
    parts.append("</svg>")
    return _svg(parts)


def stage_bar(segments: Sequence[tuple[str, float, str]], *, label: str = "Sleep stages") -> Markup:
    """One horizontal bar split into (name, value, CSS class) segments, e.g. last night's sleep stages."""
    total = sum(v for _, v, _ in segments if v > 0)
    if total <= 0:
        return Markup("")
    width, height = 600.0, 24.0
    parts = [
        f'<svg class="stagebar" viewBox="0 0 {_fmt(width)} {_fmt(height)}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="none">'
    ]
    x = 0.0
    for name, value, css in segments:
        if value <= 0:
            continue
        w = value / total * width
        parts.append(
            f'<rect class="seg {escape(css)}" x="{_fmt(x)}" y="0" width="{_fmt(w)}" height="{_fmt(height)}">'
            f"<title>{escape(name)}</title></rect>"
        )
        x += w
    parts.append("</svg>")
    return _svg(parts)

"""Server-rendered inline SVG charts: no JavaScript library, no CDN, so pages work offline.

Only classes style the SVG (the CSP forbids inline ``style=""``); every text node is escaped.
A ``None`` value is a gap (e.g. a pending score), never a zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

Value = float | None


@dataclass(frozen=True)
class Point:
    """One x position of a chart: its label, value and an optional CSS class (e.g. a recovery zone)."""

    label: str
    value: Value
    css: str = ""
    title: str = ""


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
    """Round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering ``[lo, hi]``."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
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
    values: Sequence[Value], *, label: str, css: str = "", width: int = 120, height: int = 32
) -> Markup:
    """A small trend line (oldest first) with the last point marked; empty when there is no value."""
    present = [v for v in values if v is not None]
    if not present:
        return Markup("")
    pad = 3.0
    lo, hi = _bounds(present, None, None)
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


_W, _H = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 40.0, 10.0, 12.0, 28.0


def _frame(
    lo: float, hi: float, *, unit: str, ticks: Sequence[float] | None
) -> tuple[list[str], Callable[[float], float]]:
    y = _scale(lo, hi, _TOP, _H - _BOTTOM)
    if ticks is None:
        ticks = [lo + (hi - lo) * k / 4 for k in range(5)]
    parts = []
    for t in ticks:
        ty = _fmt(y(t))
        parts.append(f'<line class="grid" x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{ty}" y2="{ty}"/>')
        parts.append(
            f'<text class="axis" x="{_LEFT - 4}" y="{ty}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(_fmt(t))}{escape(unit)}</text>"
        )
    return parts, y


def _x_labels(points: Sequence[Point], xs: Sequence[float]) -> list[str]:
    n = len(points)
    every = max(1, -(-n // 8))  # at most ~8 labels, so they never overlap on a phone
    parts = []
    for i, (p, x) in enumerate(zip(points, xs, strict=True)):
        if i % every == 0 or (i == n - 1 and n <= 8):
            parts.append(
                f'<text class="axis" x="{_fmt(x)}" y="{_H - 8}" text-anchor="middle">{escape(p.label)}</text>'
            )
    return parts


def _open(label: str, css: str) -> str:
    return (
        f'<svg class="chart {escape(css)}" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(label)}</title>'
    )


def line_chart(
    points: Sequence[Point],
    *,
    label: str,
    unit: str = "",
    y_min: float | None = None,
    y_max: float | None = None,
    ticks: Sequence[float] | None = None,
    bands: Sequence[tuple[float, float, str]] = (),
    css: str = "",
) -> Markup:
    """A line chart (points oldest first) with dots coloured by each point's class; gaps stay gaps."""
    present = [p.value for p in points if p.value is not None]
    if not present:
        return Markup("")
    lo, hi = _bounds(present, y_min, y_max)
    if ticks is None:
        ticks = nice_ticks(lo, hi)
        lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    parts = [_open(label, css)]
    frame, y = _frame(lo, hi, unit=unit, ticks=ticks)
    for b_lo, b_hi, b_css in bands:
        top, bottom = y(min(b_hi, hi)), y(max(b_lo, lo))
        parts.append(
            f'<rect class="band {escape(b_css)}" x="{_LEFT}" y="{_fmt(top)}" '
            f'width="{_W - _LEFT - _RIGHT}" height="{_fmt(max(bottom - top, 0))}"/>'
        )
    parts.extend(frame)
    n = len(points)
    inner = _W - _LEFT - _RIGHT - 16
    step = inner / max(n - 1, 1)
    xs = [_LEFT + 8 + i * step for i in range(n)] if n > 1 else [_LEFT + 8 + inner / 2]
    coords = [None if p.value is None else (xs[i], y(p.value)) for i, p in enumerate(points)]
    for seg in _segments(coords):
        d = "M" + " L".join(f"{_fmt(px)},{_fmt(py)}" for px, py in seg)
        parts.append(f'<path class="line" d="{d}"/>')
    radius = 4 if n <= 31 else 2.5
    for p, c in zip(points, coords, strict=True):
        if c is None:
            continue
        tip = p.title or f"{p.label}: {_fmt(p.value or 0)}{unit}"
        parts.append(
            f'<circle class="dot {escape(p.css)}" cx="{_fmt(c[0])}" cy="{_fmt(c[1])}" r="{radius}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.extend(_x_labels(points, xs))
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
    css: str = "",
) -> Markup:
    """A bar chart (points oldest first); a missing value leaves an empty slot, not a zero bar."""
    present = [p.value for p in points if p.value is not None]
    if not present:
        return Markup("")
    lo, hi = _bounds([*present, y_min], y_min, y_max if y_max is not None else max(present) * 1.1 or 1.0)
    if ticks is None:
        ticks = nice_ticks(lo, hi)
        hi = max(hi, ticks[-1])
    parts = [_open(label, css)]
    frame, y = _frame(lo, hi, unit=unit, ticks=ticks)
    parts.extend(frame)
    n = len(points)
    slot = (_W - _LEFT - _RIGHT) / max(n, 1)
    width = max(slot * 0.7, 1.0)
    xs = [_LEFT + slot * (i + 0.5) for i in range(n)]
    base = y(lo)
    for p, x in zip(points, xs, strict=True):
        if p.value is None:
            continue
        top = y(min(max(p.value, lo), hi))
        tip = p.title or f"{p.label}: {_fmt(p.value)}{unit}"
        parts.append(
            f'<rect class="bar {escape(p.css)}" x="{_fmt(x - width / 2)}" y="{_fmt(top)}" '
            f'width="{_fmt(width)}" height="{_fmt(max(base - top, 0.5))}"><title>{escape(tip)}</title></rect>'
        )
    parts.extend(_x_labels(points, xs))
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
    if ticks is None:
        ticks = nice_ticks(0.0, max(totals))
    hi = max(max(totals), ticks[-1])
    parts = [_open(label, css)]
    frame, y = _frame(0.0, hi, unit=unit, ticks=ticks)
    parts.extend(frame)
    n = len(stacks)
    slot = (_W - _LEFT - _RIGHT) / max(n, 1)
    width = max(slot * 0.7, 1.0)
    xs = [_LEFT + slot * (i + 0.5) for i in range(n)]
    for s, x in zip(stacks, xs, strict=True):
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
                f'<rect class="bar {escape(seg_css)}" x="{_fmt(x - width / 2)}" y="{_fmt(top)}" '
                f'width="{_fmt(width)}" height="{_fmt(max(bottom - top, 0))}"/>'
            )
        parts.append("</g>")
    labelled = [Point(s.label if s else "", None) for s in stacks]
    parts.extend(_x_labels(labelled, xs))
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

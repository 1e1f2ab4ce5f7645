"""Server-rendered inline SVG charts: no JavaScript library, no CDN, so pages work offline.

Only classes style the SVG (the CSP forbids inline ``style=""``); every text node is escaped.
A ``None`` value is a gap (e.g. a pending score), never a zero. Charts are drawn in percentages of
their plot area rather than in a scaled viewBox, so axis text keeps its CSS size on any screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

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


# --------------------------------------------------------------------------- drivers page (issue 10)


def _signed(x: float) -> str:
    # A difference reads as one: "+5", "0", "−5" (a real minus sign, not a hyphen).
    if abs(x) < 1e-9:
        return "0"
    text = _fmt(abs(x))
    return ("+" if x > 0 else "\u2212") + text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class ForestRow:
    """One factor of a forest plot: its label, estimate with interval, n, emphasis and tooltip."""

    label: str
    estimate: float
    low: float
    high: float
    n_text: str
    significant: bool = False
    css: str = ""  # e.g. good / bad: which way a clear association points
    title: str = ""


FOREST_ROW_PX = 46  # a row: the label line, then the interval under it
FOREST_AXIS_PX = 44  # tick labels and the axis title under the rows
# The CSS padding of svg.forest (style.css): the label line starts in the left one, n sits in the right one.
FOREST_PAD_LEFT_PX = 18
FOREST_PAD_RIGHT_PX = 96
FOREST_LABEL_CHARS = 42  # longer labels are shortened on the chart (the tooltip and table keep them)


def forest_plot(rows: Sequence[ForestRow], *, label: str, axis_title: str) -> Markup:
    """Effects with their intervals, one row per factor, around a zero line; empty without rows.

    Each row puts its label on a line of its own across the whole chart and the interval under it,
    with n at its right end (in the SVG's right padding), so a phone keeps most of its width for the
    intervals. x positions are percentages of the plot width and y positions pixels, so the text
    stays at its CSS size on any screen.
    """
    if not rows:
        return Markup("")
    values = [v for r in rows for v in (r.low, r.high, r.estimate, 0.0)]
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    ticks = nice_ticks(lo - span * 0.05, hi + span * 0.05, count=4)
    lo, hi = ticks[0], ticks[-1]

    def x(v: float) -> str:
        return _pct((v - lo) / (hi - lo))

    plot_px = len(rows) * FOREST_ROW_PX
    height = plot_px + FOREST_AXIS_PX
    parts = [
        f'<svg class="forest" role="img" aria-label="{escape(label)}" height="{height}" overflow="visible">'
        f"<title>{escape(label)}</title>"
    ]
    for k, t in enumerate(ticks):
        minor = " minor" if k % 2 and len(ticks) > 5 else ""
        parts.append(f'<line class="grid" x1="{x(t)}" x2="{x(t)}" y1="0" y2="{plot_px}"/>')
        parts.append(
            f'<text class="axis x{minor}" x="{x(t)}" y="{plot_px + 16}" text-anchor="middle">'
            f"{escape(_signed(t))}</text>"
        )
    parts.append(f'<line class="zero" x1="{x(0.0)}" x2="{x(0.0)}" y1="0" y2="{plot_px}"/>')
    for i, r in enumerate(rows):
        top = i * FOREST_ROW_PX
        mid = top + 32
        css = " ".join(c for c in ("factor", "sig" if r.significant else "", r.css) if c)
        parts.append(f'<g class="{escape(css)}">')
        if r.title:
            parts.append(f"<title>{escape(r.title)}</title>")
        parts.append(
            f'<rect class="hit" x="0" y="{top}" width="100%" height="{FOREST_ROW_PX}"/>'
            f'<text class="label" x="0" dx="-{FOREST_PAD_LEFT_PX}" y="{top + 15}">'
            f"{escape(_clip(r.label, FOREST_LABEL_CHARS))}</text>"
            f'<line class="ci" x1="{x(r.low)}" x2="{x(r.high)}" y1="{mid}" y2="{mid}"/>'
            f'<line class="cap" x1="{x(r.low)}" x2="{x(r.low)}" y1="{mid - 5}" y2="{mid + 5}"/>'
            f'<line class="cap" x1="{x(r.high)}" x2="{x(r.high)}" y1="{mid - 5}" y2="{mid + 5}"/>'
            f'<circle class="est" cx="{x(r.estimate)}" cy="{mid}" r="5"/>'
            f'<text class="n" x="100%" dx="{FOREST_PAD_RIGHT_PX}" y="{mid + 4}" text-anchor="end">'
            f"{escape(r.n_text)}</text>"
        )
        parts.append("</g>")
    parts.append(
        f'<text class="axis title" x="50%" y="{plot_px + 36}" text-anchor="middle">'
        f"{escape(axis_title)}</text>"
    )
    parts.append("</svg>")
    return _svg(parts)


@dataclass(frozen=True)
class XY:
    """One point of a scatter plot, with a tooltip and an optional CSS class."""

    x: float
    y: float
    title: str = ""
    css: str = ""


def scatter_plot(
    points: Sequence[XY],
    *,
    label: str,
    x_unit: str = "",
    y_unit: str = "",
    x_ticks: Sequence[tuple[float, str]] | None = None,
    y_min: float | None = None,
    y_max: float | None = None,
    y_ticks: Sequence[float] | None = None,
    jitter: float = 0.0,
    css: str = "",
) -> Markup:
    """A scatter plot (same frame as the line charts); empty without points.

    ``x_ticks`` labels a categorical x (e.g. ``[(0, "No"), (1, "Yes")]``), and ``jitter`` (in x units)
    spreads the points of one category sideways, deterministically, so they do not hide each other.
    """
    if not points:
        return Markup("")
    lo, hi, ticks, y = _y_frame(*axis_range([p.y for p in points], y_min=y_min, y_max=y_max), y_ticks)
    xs = [p.x for p in points]
    if x_ticks is not None:
        positions = [t for t, _ in x_ticks]
        x_lo, x_hi = min([*positions, *xs]) - 0.5, max([*positions, *xs]) + 0.5
        marks = list(x_ticks)
    else:
        grid = nice_ticks(min(xs), max(xs), count=4)
        x_lo, x_hi = grid[0], grid[-1]
        marks = [(t, f"{_fmt(t)}{x_unit}") for t in grid]
    x_span = x_hi - x_lo or 1.0

    def x(v: float) -> float:
        return (v - x_lo) / x_span

    parts = [_open(label, f"scatter {css}".strip())]
    parts.extend(_y_axis(ticks, y, y_unit))
    for k, (t, text) in enumerate(marks):
        minor = " minor" if k % 2 and len(marks) > 3 else ""
        parts.append(
            f'<text class="axis x{minor}" x="{_pct(x(t))}" y="100%" dy="18" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    for i, p in enumerate(points):
        # The golden-ratio sequence spreads any number of points evenly over the jitter band.
        offset = ((i * 0.618034) % 1.0 - 0.5) * jitter
        cx, cy = x(p.x + offset), y(min(max(p.y, lo), hi))
        dot = f"pt {p.css}".strip()
        tip = p.title or f"{_fmt(p.x)}{x_unit}: {_fmt(p.y)}{y_unit}"
        parts.append(
            f'<circle class="{escape(dot)}" cx="{_pct(cx)}" cy="{_pct(cy)}" r="3.5">'
            f"<title>{escape(tip)}</title></circle>"
        )
    parts.append("</svg>")
    return _svg(parts)


@dataclass(frozen=True)
class DayCell:
    """One day of a calendar heatmap: its date, CSS class (e.g. a recovery zone) and tooltip."""

    day: date
    css: str
    title: str


CAL_CELL_PX = 14
CAL_STEP_PX = 17  # cell plus gap
CAL_LEFT_PX = 30  # weekday labels
CAL_RIGHT_PX = 34  # the weekday labels again, for a phone that shows only the newest weeks
CAL_TOP_PX = 20  # month labels
WEEKDAY_LABELS = ((0, "Mon"), (2, "Wed"), (4, "Fri"), (6, "Sun"))


def calendar_heatmap(cells: Sequence[DayCell], *, label: str) -> Markup:
    """A year at a glance: weeks as columns (Monday first), weekdays as rows, one cell per day.

    Drawn at a fixed pixel size (no viewBox), so text and cells keep their size; a phone scrolls the
    calendar inside its card (style.css starts it at the newest week). Empty without cells.
    """
    if not cells:
        return Markup("")
    cells = sorted(cells, key=lambda c: c.day)
    first_monday = cells[0].day - timedelta(days=cells[0].day.weekday())
    weeks = (cells[-1].day - first_monday).days // 7 + 1
    width = CAL_LEFT_PX + weeks * CAL_STEP_PX + CAL_RIGHT_PX
    height = CAL_TOP_PX + 7 * CAL_STEP_PX
    parts = [
        f'<svg class="calendar" role="img" aria-label="{escape(label)}" width="{width}" height="{height}">'
        f"<title>{escape(label)}</title>"
    ]
    for row, text in WEEKDAY_LABELS:
        baseline = CAL_TOP_PX + row * CAL_STEP_PX + CAL_CELL_PX - 2
        parts.append(
            f'<text class="axis wd" x="{CAL_LEFT_PX - 6}" y="{baseline}" text-anchor="end">'
            f"{escape(text)}</text>"
            f'<text class="axis wd end" x="{width - CAL_RIGHT_PX + 4}" y="{baseline}">{escape(text)}</text>'
        )
    # Each month is labelled at the week holding its 1st; a partial first month only when its label
    # would not run into the next month's.
    months = [(c.day, (c.day - first_monday).days // 7) for c in cells if c.day.day == 1]
    if not months or months[0][1] >= 3:
        months.insert(0, (cells[0].day, 0))
    for day, col in months:
        x = CAL_LEFT_PX + col * CAL_STEP_PX
        parts.append(f'<text class="axis month" x="{x}" y="13">{escape(f"{day:%b}")}</text>')
    for c in cells:
        col = (c.day - first_monday).days // 7
        row = c.day.weekday()
        cx = CAL_LEFT_PX + col * CAL_STEP_PX
        cy = CAL_TOP_PX + row * CAL_STEP_PX
        parts.append(
            f'<rect class="day {escape(c.css)}" x="{cx}" y="{cy}" width="{CAL_CELL_PX}" '
            f'height="{CAL_CELL_PX}" rx="2" data-date="{c.day.isoformat()}">'
            f"<title>{escape(c.title)}</title></rect>"
        )
    parts.append("</svg>")
    return _svg(parts)

"""The inline SVG charts: gaps for missing values, escaped text, nothing drawn without data."""

from __future__ import annotations

import itertools
import re
from datetime import date, datetime, timedelta

import pytest

from whoopkit.analytics import DaySummary
from whoopkit.fake_whoop import FakeWhoop
from whoopkit.models import Workout
from whoopkit.web import charts, formatting, pages


def test_a_missing_value_splits_the_sparkline_instead_of_dropping_to_zero() -> None:
    svg = str(charts.sparkline([50, None, 60, 70], label="Recovery"))
    assert svg.count("<polyline") == 2
    assert 'aria-label="Recovery"' in svg


def test_no_data_draws_nothing() -> None:
    assert str(charts.sparkline([None, None], label="x")) == ""
    assert str(charts.line_chart([charts.Point("1/1", None)], label="x")) == ""
    assert str(charts.bar_chart([], label="x")) == ""
    assert str(charts.stacked_bar_chart([charts.Stack("1/1", ())], label="x")) == ""
    assert str(charts.stage_bar([("Light", 0, "light")])) == ""


def test_labels_and_tooltips_are_escaped() -> None:
    svg = str(
        charts.line_chart(
            [charts.Point("<b>", 1.0, css='"x'), charts.Point("b", 2.0)], label="<script>alert(1)</script>"
        )
    )
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&#34;x" in svg


def test_line_charts_colour_dots_by_class_and_draw_zone_bands() -> None:
    points = [charts.Point("1/1", 80, css="green"), charts.Point("2/1", 20, css="red")]
    svg = str(charts.line_chart(points, label="Recovery", y_min=0, y_max=100, bands=((0, 33.5, "red"),)))
    assert 'class="dot green"' in svg and 'class="dot red"' in svg
    assert 'class="band red"' in svg
    assert "<path" in svg
    assert "style=" not in svg


def test_bars_leave_an_empty_slot_for_a_pending_day() -> None:
    svg = str(charts.bar_chart([charts.Point("1/1", 10), charts.Point("2/1", None)], label="Strain"))
    assert svg.count('<rect class="bar') == 1


def test_human_units() -> None:
    assert formatting.duration_ms(27_000_000) == "7 h 30 min"
    assert formatting.duration_ms(59 * 60_000) == "59 min"
    assert formatting.duration_ms(None) == "–"
    assert formatting.kcal(4184) == "1,000 kcal"
    assert formatting.km(5123) == "5.12 km"
    assert formatting.percent(66.6) == "67%"
    assert formatting.state_label("PENDING_SCORE") == "pending"


def test_recovery_zones_follow_whoop_on_the_shown_percent() -> None:
    assert formatting.zone(67) == "green"
    assert formatting.zone(66.6) == "green"
    assert formatting.zone(66.4) == "yellow"
    assert formatting.zone(34) == "yellow"
    assert formatting.zone(33) == "red"
    assert formatting.zone(None) == "none"


def _y_ticks(svg: str) -> list[float]:
    return [float(t.rstrip("%hms")) for t in re.findall(r'<text class="axis y"[^>]*>([^<]+)</text>', svg)]


def _centres(svg: str) -> list[float]:
    rects = re.findall(r'<rect class="bar[^"]*" x="([\d.]+)%"[^>]* width="([\d.]+)%"', svg)
    return [round(float(x) + float(w) / 2, 2) for x, w in rects]


def _rows(field: str, values: list[float], end: date) -> list[DaySummary]:
    start = end - timedelta(days=len(values) - 1)
    return [
        DaySummary(
            date=start + timedelta(days=i),
            weekday="Mon",
            recovery_state="SCORED",
            recovery_pct=60.0,
            **{field: v},
        )
        for i, v in enumerate(values)
    ]


def test_a_resting_hr_chart_spans_at_least_10_bpm_and_hrv_at_least_20_ms() -> None:
    end = date(2026, 11, 20)
    rhr = pages.recovery_view(_rows("resting_hr_bpm", [52, 53, 55, 54, 52, 53, 54], end), days=7, today=end)
    ticks = _y_ticks(str(rhr["charts"][2]["svg"]))
    assert max(ticks) - min(ticks) >= 10, ticks  # 1-bpm wiggles stay small instead of filling the chart
    assert min(ticks) <= 52 and max(ticks) >= 55
    hrv = pages.recovery_view(_rows("hrv_ms", [61, 63, 60, 66, 62, 64, 65], end), days=7, today=end)
    ticks = _y_ticks(str(hrv["charts"][1]["svg"]))
    assert max(ticks) - min(ticks) >= 20, ticks


def test_a_minimum_span_grows_around_the_data_and_keeps_fixed_ends() -> None:
    assert charts.axis_range([52, 55], min_span=10) == (48.5, 58.5)
    assert charts.axis_range([40, 80], min_span=10) == (40, 80)  # already wider
    assert charts.axis_range([96, 99], y_min=0, y_max=100, min_span=10) == (0, 100)
    assert charts.axis_range([1, 2], y_min=0, min_span=10) == (0, 10)  # never below a fixed floor


def test_recovery_and_strain_keep_their_whole_scales() -> None:
    end = date(2026, 11, 20)
    view = pages.recovery_view(_rows("hrv_ms", [60] * 7, end), days=7, today=end)
    assert _y_ticks(str(view["charts"][0]["svg"])) == [0, 33, 66, 100]
    sparks = pages.dashboard(
        profile=None, body=None, days=_rows("strain", [8, 9, 8, 9, 8, 9, 8], end), today=end
    )
    strain = next(t for t in sparks["trends"] if t["label"] == "Strain")
    ys = [float(y) for y in re.findall(r",([\d.]+)", str(strain["svg"]))]
    assert max(ys) - min(ys) < 32 * 0.1  # strain 8-9 on the 0-21 scale is a nearly flat line


def test_bars_on_a_time_axis_sit_at_their_time_with_evenly_spaced_date_labels() -> None:
    points = [
        charts.Point("1/1", 10, x=0.25),
        charts.Point("1/1", 12, x=0.75),
        charts.Point("10/1", 8, x=9.5),
    ]
    ticks = charts.slot_ticks([f"{d}/1" for d in range(1, 11)], max_labels=5)
    svg = str(charts.bar_chart(points, label="Strain", y_max=21, slots=10, x_ticks=ticks))
    assert _centres(svg) == [3.5, 7.5, 95.0]  # the first is pushed inside the chart's left edge
    xs = [float(x) for x in re.findall(r'<text class="axis x[^"]*" x="([\d.]+)%"', svg)]
    assert xs == [5, 25, 45, 65, 85]


def test_the_workouts_chart_is_a_time_axis_one_bar_per_workout(fake: FakeWhoop, fake_now: datetime) -> None:
    workouts = [Workout.model_validate(w) for w in fake.data.workouts]
    today = fake_now.date()
    view = pages.workouts_view(workouts, days=30, today=today)
    svg = str(view["charts"][0]["svg"])
    first = today - timedelta(days=29)
    shown = sorted(
        (w for w in workouts if w.score and 0 <= (w.local_start.date() - first).days < 30),
        key=lambda w: w.start,
    )
    expected = [
        ((w.local_start.date() - first).days + (w.local_start.hour * 60 + w.local_start.minute) / 1440)
        / 30
        * 100
        for w in shown
    ]
    assert len(shown) >= 5
    assert _centres(svg) == pytest.approx(expected, abs=1.2)  # 1.2 %: the edge clamp of a 0.7-day bar
    labels = re.findall(r'<text class="axis x[^"]*" x="([\d.]+)%"[^>]*>([^<]+)</text>', svg)
    marks = [(float(x), date(2026, int(text.split("/")[1]), int(text.split("/")[0]))) for x, text in labels]
    per_day = [(xb - xa) / (db - da).days for (xa, da), (xb, db) in itertools.pairwise(marks)]
    assert max(per_day) - min(per_day) < 0.01, labels  # a date axis, whatever the workouts
    assert per_day[0] == pytest.approx(100 / 30, abs=0.01)


def test_no_axis_text_is_scaled_by_a_viewbox() -> None:
    # With a viewBox the browser scales the 12px labels with the chart: ~6px on a phone.
    for svg in (
        charts.line_chart([charts.Point("1/1", 1.0), charts.Point("2/1", 2.0)], label="x"),
        charts.bar_chart([charts.Point("1/1", 1.0)], label="x"),
        charts.stacked_bar_chart([charts.Stack("1/1", ((1.0, "deep"),))], label="x"),
    ):
        outer = re.match(r"<svg [^>]*>", str(svg))
        assert outer and "viewBox" not in outer.group(0)
        assert 'class="axis' in str(svg)

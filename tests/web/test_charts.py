"""The inline SVG charts: gaps for missing values, escaped text, nothing drawn without data."""

from __future__ import annotations

from whoopkit.web import charts, formatting


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

"""analytics.charts: inline SVG charts that are well-formed, accessible, proportional and escape their text."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from analytics.charts import (
    BAR_WIDTH,
    SERIES_HEIGHT,
    SERIES_MARGIN,
    SERIES_WIDTH,
    Bar,
    bar_chart,
    count_label,
    nice_step,
    series_chart,
    tick_indexes,
    time_label,
)

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # raises on markup that is not well-formed XML


def test_bars_are_proportional_labelled_and_linked():
    svg = parse(
        bar_chart(
            [Bar("LOGIN", 40, "/app/logs?action=LOGIN&source=web"), Bar("DELETE", 10), Bar("NONE", 0)],
            name="action",
            title="Events by action",
            desc="3 values",
        )
    )
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "chart-action-t chart-action-d"
    assert svg.find(f"{SVG}title").text == "Events by action" and svg.find(f"{SVG}desc").text == "3 values"
    rects = svg.findall(f".//{SVG}rect[@class='chart-bar-fill']")
    assert [float(r.get("width")) for r in rects] == [BAR_WIDTH, BAR_WIDTH / 4, 0]
    hit = svg.findall(f".//{SVG}rect[@class='chart-hit']")  # the linked row is clickable all over
    assert len(hit) == 1 and float(hit[0].get("width")) == BAR_WIDTH
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    values = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert labels == ["LOGIN", "DELETE", "NONE"] and values == ["40", "10", "0"]
    links = svg.findall(f"{SVG}a")
    assert len(links) == 1 and links[0].get("href") == "/app/logs?action=LOGIN&source=web"
    assert links[0].get("tabindex") == "-1"  # the paired table carries the link for keyboards
    assert float(svg.get("viewBox").split()[3]) == 3 * 32


def test_a_small_count_still_shows_a_sliver_and_big_counts_are_grouped():
    svg = parse(bar_chart([Bar("A", 1_000_000), Bar("B", 1)], name="x", title="t", desc="d"))
    widths = [float(r.get("width")) for r in svg.findall(f".//{SVG}rect[@class='chart-bar-fill']")]
    assert widths == [BAR_WIDTH, 1.0]
    assert [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-value"] == ["1,000,000", "1"]


def test_text_from_events_is_escaped():
    evil = '<script>alert(1)</script>" onload="x'
    markup = bar_chart([Bar(evil, 3, '/app/logs?q="><script>')], name="n", title=f"T {evil}", desc=evil)
    assert "<script>" not in markup and 'onload="x' not in markup
    svg = parse(markup)
    assert svg.find(f"{SVG}desc").text == evil  # shown as text, exactly
    assert svg.find(f"{SVG}a").get("href") == '/app/logs?q="><script>'


def test_long_labels_are_cut_with_the_full_one_in_the_tooltip():
    label = "resource." + "x" * 80
    svg = parse(bar_chart([Bar(label, 5)], name="n", title="t", desc="d"))
    shown = next(t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-label")
    assert shown.endswith("…") and len(shown) == 40 and label.startswith(shown[:-1])
    assert svg.find(f"{SVG}g/{SVG}title").text == f"{label}: 5"


def test_no_bars_says_so():
    svg = parse(bar_chart([], name="n", title="t", desc="d"))
    assert svg.find(f".//{SVG}rect") is None
    assert "No events" in "".join(svg.itertext())


def test_series_line_follows_the_counts_on_a_round_axis():
    points = [(T0 + timedelta(hours=i), n) for i, n in enumerate([0, 5, 10, 37, 2])]
    svg = parse(series_chart(points, name="s", interval="hour", title="Events over time", desc="d"))
    line = svg.find(f".//{SVG}polyline[@class='chart-line']")
    coords = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    assert len(coords) == 5
    m = SERIES_MARGIN
    bottom, top = SERIES_HEIGHT - m["bottom"], m["top"]
    # The axis ends at a round number at or above the peak (37 -> 40 in steps of 10).
    y_axis = str(SERIES_MARGIN["left"] - 4)
    y_labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("x") == y_axis]
    assert y_labels == ["0", "10", "20", "30", "40"]
    assert coords[0] == (m["left"], bottom) and coords[-1][0] == SERIES_WIDTH - m["right"]
    assert coords[3][1] == pytest.approx(bottom - (bottom - top) * 37 / 40, abs=0.1)
    xs = [x for x, _y in coords]
    assert xs == sorted(xs)
    area = svg.find(f".//{SVG}polygon").get("points").split()
    assert len(area) == 7  # the line and back along the axis
    x_labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("y") == str(SERIES_HEIGHT - 8)]
    assert x_labels == ["00:00", "01:00", "02:00", "03:00", "04:00"]
    tips = [r.find(f"{SVG}title").text for r in svg.findall(f".//{SVG}rect[@class='chart-hover']")]
    assert tips[3] == "2026-11-02 03:00 UTC: 37" and len(tips) == 5


def test_series_over_days_shows_dates_and_one_point_is_a_dot():
    points = [(T0 + timedelta(hours=6 * i), 1) for i in range(10)]
    svg = parse(series_chart(points, name="s", interval="hour", title="t", desc="d"))
    x_labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("y") == str(SERIES_HEIGHT - 8)]
    assert x_labels[0] == "11-02 00:00" and x_labels[-1] == "11-04 06:00" and len(x_labels) == 4  # long labels
    one = parse(series_chart([(T0, 4)], name="s", interval="day", title="t", desc="d"))
    assert one.find(f".//{SVG}circle") is not None and one.find(f".//{SVG}polyline") is None
    empty = parse(series_chart([], name="s", interval="day", title="t", desc="d"))
    assert "No events" in "".join(empty.itertext())


def test_all_zero_series_has_an_axis_up_to_one_step():
    svg = parse(series_chart([(T0, 0), (T0 + timedelta(days=1), 0)], name="s", interval="day", title="t", desc="d"))
    y_labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("x") == str(SERIES_MARGIN["left"] - 4)]
    assert y_labels == ["0", "1"]
    x_labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("y") == str(SERIES_HEIGHT - 8)]
    assert x_labels == ["11-02", "11-03"]  # days of one year: no year


def test_many_buckets_have_no_tooltips_and_days_over_years_show_the_year():
    points = [(T0 + timedelta(days=i), i % 7) for i in range(500)]
    svg = parse(series_chart(points, name="s", interval="day", title="t", desc="d"))
    assert svg.find(f".//{SVG}rect[@class='chart-hover']") is None
    x_labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("y") == str(SERIES_HEIGHT - 8)]
    assert x_labels[0] == "2026-11-02" and x_labels[-1] == "2028-03-15" and len(x_labels) == 4


@pytest.mark.parametrize(
    ("span", "ticks", "step"), [(0, 4, 1), (3, 4, 1), (37, 4, 10), (87, 4, 50), (1000, 4, 500), (12_345, 4, 5000)]
)
def test_nice_step(span, ticks, step):
    assert nice_step(span, ticks) == step


def test_helpers():
    assert count_label(999) == "999" and count_label(9_999) == "9,999" and count_label(25_000) == "25k"
    assert count_label(2_500_000) == "2.5M" and count_label(3_000_000) == "3M"
    assert tick_indexes(0, 5) == [] and tick_indexes(3, 5) == [0, 1, 2] and tick_indexes(101, 5) == [0, 25, 50, 75, 100]
    assert time_label(T0, "day", with_date=True) == "2026-11-02"
    assert time_label(T0, "minute", with_date=False) == "00:00"

"""Charts of the statistics page as inline SVG, rendered on the server (no JavaScript, nothing to download).

Two kinds: horizontal bars (counts by a value, each bar optionally a link) and a time series (an area under a
line, with axes). Every chart has a <title> and a <desc> and is an image to assistive technology
(role="img"); the page pairs each one with a table of the same numbers, which is where keyboards and screen
readers find them (and the links). All text is escaped: values come from events, which anyone with an ingest
key writes.

Sizes are in the viewBox's units; the SVG scales to the width of its container (phones included).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

BAR_WIDTH = 400  # viewBox width of a bar chart
BAR_ROW = 32  # height of one bar's row: its label line, then the bar
BAR_HEIGHT = 10
LABEL_CHARS = 40  # a longer label is cut (the full one is in the bar's tooltip and the table)
SERIES_WIDTH = 600  # viewBox of the time series
SERIES_HEIGHT = 220
SERIES_MARGIN = {"left": 52, "right": 12, "top": 12, "bottom": 30}
Y_TICKS = 4
HOVER_MAX = 400  # buckets up to which each one has a tooltip


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    href: str | None = None


def nice_step(span: float, ticks: int) -> int:
    """A round step (1, 2 or 5 times a power of ten, at least 1) so that `ticks` steps cover `span`."""
    raw = max(span / max(ticks, 1), 1)
    magnitude = 1
    while magnitude * 10 <= raw:
        magnitude *= 10
    for factor in (1, 2, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def count_label(n: int) -> str:
    """A count for an axis: 1,234 or 12k / 3.5M when long."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:,}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _svg(
    body: SafeString, *, name: str, width: int, height: float, title: str, desc: str, css_class: str
) -> SafeString:
    """The <svg> element; `name` makes its ids (chart-<name>-t, -d), unique on the page."""
    uid = name
    return format_html(
        '<svg class="{}" viewBox="0 0 {} {}" width="100%" role="img" aria-labelledby="chart-{}-t chart-{}-d" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
        '<title id="chart-{}-t">{}</title><desc id="chart-{}-d">{}</desc>{}</svg>',
        css_class,
        width,
        _num(height),
        uid,
        uid,
        uid,
        title,
        uid,
        desc,
        body,
    )


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def bar_chart(bars: Sequence[Bar], *, name: str, title: str, desc: str) -> SafeString:
    """Horizontal bars, longest first as given; each row shows the label above its bar and the count at the
    right. A bar with an href is a link (for the mouse; out of the tab order, the paired table has it too)."""
    if not bars:
        return _svg(
            format_html('<text class="chart-empty" x="0" y="{}">No events</text>', 20),
            name=name,
            width=BAR_WIDTH,
            height=BAR_ROW,
            title=title,
            desc=desc,
            css_class="chart chart-bars",
        )
    top = max(bar.value for bar in bars) or 1
    rows = []
    for i, bar in enumerate(bars):
        y = i * BAR_ROW
        width = bar.value / top * BAR_WIDTH
        row = format_html(
            '<g class="chart-bar"><title>{}: {}</title>{}'
            '<text class="chart-label" x="0" y="{}">{}</text>'
            '<text class="chart-value" x="{}" y="{}" text-anchor="end">{}</text>'
            '<rect class="chart-bar-fill" x="0" y="{}" width="{}" height="{}" rx="2"></rect></g>',
            bar.label,
            f"{bar.value:,}",
            # A linked row is clickable all over, not only on its bar and text.
            format_html(
                '<rect class="chart-hit" x="0" y="{}" width="{}" height="{}" fill="transparent"></rect>',
                y,
                BAR_WIDTH,
                BAR_ROW,
            )
            if bar.href
            else "",
            y + 14,
            _cut(bar.label, LABEL_CHARS),
            BAR_WIDTH,
            y + 14,
            f"{bar.value:,}",
            y + 19,
            _num(max(width, 1.0) if bar.value else 0),
            BAR_HEIGHT,
        )
        if bar.href:
            row = format_html('<a href="{}" tabindex="-1">{}</a>', bar.href, row)
        rows.append((row,))
    body = format_html_join("", "{}", rows)
    return _svg(
        body,
        name=name,
        width=BAR_WIDTH,
        height=len(bars) * BAR_ROW,
        title=title,
        desc=desc,
        css_class="chart chart-bars",
    )


def time_label(t: datetime, interval: str, *, with_date: bool) -> str:
    """A bucket's start for an axis (UTC): 14:05 or 11-02 14:00 (minutes, hours); 11-02 or 2026-11-02 (days,
    the year when the series spans more than one)."""
    if interval == "day":
        return t.strftime("%Y-%m-%d") if with_date else t.strftime("%m-%d")
    if with_date:
        return t.strftime("%m-%d %H:%M")
    return t.strftime("%H:%M")


def tick_indexes(n: int, ticks: int) -> list[int]:
    """Up to `ticks` evenly spread indexes of n points, the first and the last included."""
    if n <= 0:
        return []
    if n <= ticks:
        return list(range(n))
    return sorted({round(i * (n - 1) / (ticks - 1)) for i in range(ticks)})


def series_chart(
    points: Sequence[tuple[datetime, int]], *, name: str, interval: str, title: str, desc: str
) -> SafeString:
    """Counts per bucket (oldest first) as an area under a line, a y axis of round counts from 0 and an x axis
    of bucket starts (UTC)."""
    m = SERIES_MARGIN
    plot_w = SERIES_WIDTH - m["left"] - m["right"]
    plot_h = SERIES_HEIGHT - m["top"] - m["bottom"]
    if not points:
        return _svg(
            format_html('<text class="chart-empty" x="{}" y="{}">No events</text>', m["left"], m["top"] + 20),
            name=name,
            width=SERIES_WIDTH,
            height=SERIES_HEIGHT,
            title=title,
            desc=desc,
            css_class="chart chart-series",
        )
    peak = max(n for _t, n in points)
    step = nice_step(peak, Y_TICKS)
    y_max = step * max(1, -(-peak // step))  # the first multiple of step at or above the peak

    def x_of(i: int) -> float:
        return m["left"] + (plot_w * i / (len(points) - 1) if len(points) > 1 else plot_w / 2)

    def y_of(n: int) -> float:
        return m["top"] + plot_h - plot_h * n / y_max

    parts = []
    for value in range(0, y_max + 1, step):
        y = _num(y_of(value))
        parts.append(
            format_html(
                '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"></line>'
                '<text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
                m["left"],
                SERIES_WIDTH - m["right"],
                y,
                y,
                m["left"] - 4,
                _num(y_of(value) + 4),
                count_label(value),
            )
        )
    first, last = points[0][0], points[-1][0]
    with_date = first.year != last.year if interval == "day" else first.date() != last.date()
    long_labels = len(time_label(first, interval, with_date=with_date)) > 5
    ticks = tick_indexes(len(points), 4 if long_labels else 5)
    for position, i in enumerate(ticks):
        anchor = "start" if position == 0 and len(ticks) > 1 else "end" if i == len(points) - 1 else "middle"
        if len(points) == 1:
            anchor = "middle"
        parts.append(
            format_html(
                '<text class="chart-axis" x="{}" y="{}" text-anchor="{}">{}</text>',
                _num(x_of(i)),
                SERIES_HEIGHT - 8,
                anchor,
                time_label(points[i][0], interval, with_date=with_date),
            )
        )
    line = " ".join(f"{_num(x_of(i))},{_num(y_of(n))}" for i, (_t, n) in enumerate(points))
    base = _num(y_of(0))
    if len(points) == 1:
        parts.append(
            format_html(
                '<circle class="chart-point" cx="{}" cy="{}" r="3"></circle>', _num(x_of(0)), _num(y_of(points[0][1]))
            )
        )
    else:
        parts.append(
            format_html(
                '<polygon class="chart-area" points="{} {},{} {},{}"></polygon>'
                '<polyline class="chart-line" points="{}"></polyline>',
                line,
                _num(x_of(len(points) - 1)),
                base,
                _num(x_of(0)),
                base,
                line,
            )
        )
    if len(points) <= HOVER_MAX:  # a column per bucket, with its count as a tooltip
        width = plot_w / len(points)
        for i, (t, n) in enumerate(points):
            parts.append(
                format_html(
                    '<rect class="chart-hover" x="{}" y="{}" width="{}" height="{}" fill="transparent">'
                    "<title>{}: {}</title></rect>",
                    _num(x_of(i) - width / 2),
                    m["top"],
                    _num(width),
                    plot_h,
                    t.strftime("%Y-%m-%d %H:%M UTC"),
                    f"{n:,}",
                )
            )
    parts.append(
        format_html(
            '<line class="chart-axis-line" x1="{}" x2="{}" y1="{}" y2="{}"></line>',
            m["left"],
            SERIES_WIDTH - m["right"],
            base,
            base,
        )
    )
    body = format_html_join("", "{}", ((p,) for p in parts))
    return _svg(
        body,
        name=name,
        width=SERIES_WIDTH,
        height=SERIES_HEIGHT,
        title=title,
        desc=desc,
        css_class="chart chart-series",
    )

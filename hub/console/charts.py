"""Line charts drawn as inline SVG on the server: geometry here, markup in templates/console/_macros.html.

Colours come from the Okabe-Ito palette, which stays distinguishable for the
common kinds of colour blindness; each line also has its own marker and dash, so
lines are told apart without colour; every chart is also given as a table.
"""
from __future__ import annotations

from dataclasses import dataclass

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("circle", "square", "triangle", "diamond", "cross")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")  # stroke-dasharray: solid, dashed, dotted, dash-dot, fine dots


def marker_path(marker: str, x: float, y: float, size: float = 4.0) -> str:
    """SVG path data of a marker centred on (x, y)."""
    r = size
    if marker == "square":
        return f"M{x - r:.1f},{y - r:.1f}h{2 * r:.1f}v{2 * r:.1f}h{-2 * r:.1f}z"
    if marker == "triangle":
        return f"M{x:.1f},{y - r - 1:.1f}L{x + r + 1:.1f},{y + r:.1f}L{x - r - 1:.1f},{y + r:.1f}z"
    if marker == "diamond":
        return f"M{x:.1f},{y - r - 1:.1f}L{x + r + 1:.1f},{y:.1f}L{x:.1f},{y + r + 1:.1f}L{x - r - 1:.1f},{y:.1f}z"
    if marker == "cross":
        return (f"M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}M{x + r:.1f},{y - r:.1f}L{x - r:.1f},{y + r:.1f}")
    return f"M{x - r:.1f},{y:.1f}a{r:.1f},{r:.1f} 0 1,0 {2 * r:.1f},0a{r:.1f},{r:.1f} 0 1,0 {-2 * r:.1f},0"


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    marker: str
    dash: str  # stroke-dasharray, "" for a solid line
    points: str  # SVG polyline points
    values: list[float | None]  # None: no figure for that label (a gap, shown as "–" in the table)
    dots: list[tuple[float, float, str, float]]  # x, y, label, value

    def marker_at(self, x: float, y: float, size: float = 4.0) -> str:
        return marker_path(self.marker, x, y, size)


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    left: int
    bottom: int
    top: int
    right: int
    labels: list[str]
    lines: list[Line]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    unit: str
    totals: bool = True  # the legend gives each line's total (counts); not for medians or rates

    @property
    def empty(self) -> bool:
        return not self.lines or all(not v for line in self.lines for v in line.values)


def _nice_step(rough: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that is at least `rough` (and at least 1: counts are whole)."""
    if rough <= 1:
        return 1
    magnitude = 10 ** (len(str(int(rough))) - 1)
    for step in (1, 2, 5, 10):
        if rough <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _format(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def line_chart(title: str, labels: list[str], series: dict[str, list[float | None]], unit: str = "",
               width: int = 720, height: int = 260, max_x_ticks: int = 8, totals: bool = True) -> Chart:
    left, right, top, bottom = 48, 12, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((v for values in series.values() for v in values if v is not None), default=0)
    step = _nice_step(highest / 4)
    peak = step * max(1, -(-highest // step))
    count = max(len(labels), 1)

    def x_at(i: int) -> float:
        return left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y_at(v: float) -> float:
        return top + plot_h - plot_h * v / peak

    lines = []
    for index, (name, values) in enumerate(series.items()):
        coords = [(i, round(x_at(i), 1), round(y_at(v), 1)) for i, v in enumerate(values) if v is not None]
        lines.append(Line(name=name, colour=PALETTE[index % len(PALETTE)], marker=MARKERS[index % len(MARKERS)],
                          dash=DASHES[index % len(DASHES)], points=" ".join(f"{x},{y}" for _, x, y in coords),
                          values=list(values), dots=[(x, y, labels[i], values[i]) for i, x, y in coords]))
    y_ticks = [(round(y_at(step * i), 1), _format(step * i)) for i in range(int(peak // step) + 1)]
    stride = max(1, -(-count // max_x_ticks))
    x_ticks = [(round(x_at(i), 1), labels[i]) for i in range(0, len(labels), stride)]
    return Chart(title, width, height, left, bottom, top, right, labels, lines, y_ticks, x_ticks, unit, totals)

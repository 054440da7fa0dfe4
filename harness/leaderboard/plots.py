"""Plots (matplotlib → SVG data URIs for <img>): a metric against throughput with the Pareto front
marked, against parameter count, against training compute, and against the label budget.

Every point says what it is: its colour names the init source and its marker the backbone, in two
legend under the axes (names beside the points would pile up, since one backbone's inits share a
parameter count). Points of one backbone are nudged apart sideways for the same reason. Names come
from records: local paths are dropped, long names shortened in the middle, mathtext is off, and
matplotlib draws text as glyph paths with its XML comment escaped (an SVG shown through <img> runs
no script anyway). Error bars are the 95 % t-interval of the mean over seeds, clipped to the
metric's range, as in the tables. The value axis spans at least a fifth of the metric's range, so
seed noise of 0.01 cannot fill the plot and pass for a difference.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Sequence

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import offset_copy

from harness.leaderboard.public import without_local_paths
from harness.metric_catalogue import MetricSpec

INK, MUTED, GRID = "#1f2933", "#52606d", "#e4e7eb"
PALETTE = ("#1d4ed8", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#92400e", "#475569")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
MIN_SPAN = 0.2  # the value axis spans at least this fraction of the metric's range (0.2 for a [0, 1] metric)
WIDTH, AXES_HEIGHT, LEGEND_ROW = 4.0, 2.7, 0.165  # inches; the figure grows by one legend row per name (or title)
DODGE, DODGE_SPAN = 5.0, 20.0  # points between the inits of one backbone along x, and at most between the outermost


@dataclass(frozen=True)
class Point:
    init: str
    backbone: str
    throughput: float
    params: float
    value: float  # the ranking metric's mean
    low: float  # its 95 % interval (equal to value when there is none)
    high: float
    pareto: bool
    cost: float = math.nan  # training FLOPs to 95 % of the final validation value (total for frozen modes)


@dataclass(frozen=True)
class Curve:
    init: str
    backbone: str
    budgets: tuple[str, ...]  # "8", "64", "full", in order
    values: tuple[float, ...]  # the ranking metric's mean at each budget
    lows: tuple[float, ...]
    highs: tuple[float, ...]


def shown_name(name: str, limit: int = 30) -> str:
    """A record's name as a plot may show it: no local path, at most `limit` characters (cut in the middle, where
    names of one family differ least)."""
    name = without_local_paths(name)
    if len(name) <= limit:
        return name
    head = (limit - 1) // 2
    return f"{name[:head]}…{name[len(name) - (limit - 1 - head):]}"


def value_limits(lows: Sequence[float], highs: Sequence[float], spec: MetricSpec) -> tuple[float, float]:
    """The value axis: every interval with a margin, at least MIN_SPAN of the metric's range wide, inside that range
    (plus a sliver, so a point at 1.0 is not drawn on the frame)."""
    lo, hi = float(np.min(lows)), float(np.max(highs))
    bounded = math.isfinite(spec.high - spec.low)
    least = MIN_SPAN * (spec.high - spec.low) if bounded else MIN_SPAN * max(abs(lo), abs(hi), 1e-9)
    span = max((hi - lo) * 1.15, least)
    lo, hi = (lo + hi - span) / 2, (lo + hi + span) / 2
    edge = 0.03 * span
    if hi > spec.high + edge:
        lo, hi = lo - (hi - spec.high - edge), spec.high + edge
    if lo < spec.low - edge:
        lo, hi = spec.low - edge, min(hi + (spec.low - edge - lo), spec.high + edge if bounded else math.inf)
    return lo, hi


def _styles(names: Sequence[str], choices: Sequence[str]) -> dict[str, str]:
    """One colour (or marker) per name, in sorted order so a name keeps its style on every plot with the same names."""
    return {name: choices[i % len(choices)] for i, name in enumerate(sorted(set(names)))}


def _figure(rows: int) -> tuple[Figure, object]:
    """Axes of a fixed size, with room under them for `rows` legend rows."""
    legend = 0.15 + rows * LEGEND_ROW
    height = AXES_HEIGHT + 0.6 + legend
    figure = Figure(figsize=(WIDTH, height), dpi=100)
    figure.subplots_adjust(left=0.17, right=0.97, top=1 - 0.12 / height, bottom=(legend + 0.5) / height)
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(MUTED)
    axes.tick_params(colors=INK, labelsize=8.5)
    axes.grid(True, color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _legend(figure: Figure, colours: dict[str, str], markers: dict[str, str]) -> None:
    """One column under the axes: 'init source' and its colours, then 'backbone' and its markers (one column, so a long
    name cannot run into another)."""
    handles, labels, headers = [], [], []
    for title, styles, handle in (("init source", colours, lambda c: Line2D([], [], marker="o", linestyle="", color=c)),
                                  ("backbone", markers, lambda m: Line2D([], [], marker=m, linestyle="", color=MUTED))):
        headers.append(len(labels))
        handles.append(Line2D([], [], linestyle=""))
        labels.append(title)
        handles += [handle(style) for style in styles.values()]
        labels += [shown_name(name) for name in styles]
    top = figure.subplotpars.bottom - 0.5 / figure.get_figheight()
    legend = figure.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.02, top), frameon=False, fontsize=9,
                           handletextpad=0.3, handlelength=1.2, borderaxespad=0, labelspacing=0.3)
    for i, text in enumerate(legend.get_texts()):
        text.set_parse_math(False)
        if i in headers:
            text.set_fontweight("bold")


def _labels(axes: object, x_label: str, spec: MetricSpec) -> None:
    axes.set_xlabel(x_label, fontsize=9, color=INK, parse_math=False)
    axes.set_ylabel(spec.label, fontsize=9, color=INK, parse_math=False)


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "path"}):  # glyphs as paths: the same look without the fonts
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _scatter(figure: Figure, axes: object, x: np.ndarray, points: list[Point], spec: MetricSpec) -> None:
    """Each point with its interval, coloured by init, shaped by backbone, nudged sideways from its backbone's other
    inits; points on the Pareto front ringed in ink."""
    colours = _styles([p.init for p in points], PALETTE)
    markers = _styles([p.backbone for p in points], MARKERS)
    inits = sorted(colours)
    step = min(DODGE, DODGE_SPAN / max(len(inits) - 1, 1))
    for xi, p in zip(x, points):
        shift = offset_copy(axes.transData, fig=figure, x=(inits.index(p.init) - (len(inits) - 1) / 2) * step,
                            y=0, units="points")
        axes.errorbar([xi], [p.value], yerr=[[p.value - p.low], [p.high - p.value]], fmt=markers[p.backbone],
                      color=colours[p.init], markersize=6.5 if p.pareto else 5.5, elinewidth=1, capsize=2.5,
                      markeredgecolor=INK if p.pareto else colours[p.init], markeredgewidth=1.4 if p.pareto else 0.5,
                      transform=shift, zorder=3)
    axes.update_datalim(np.column_stack([x, [p.value for p in points]]))  # shifted artists do not widen the view
    axes.margins(x=0.1)  # room for the outermost nudged points (DODGE_SPAN / 2 points each side)
    axes.autoscale_view()
    if np.ptp(x) > 0 and x.max() / max(x.min(), 1e-12) > 20:
        axes.set_xscale("log")
    axes.set_ylim(*value_limits([p.low for p in points], [p.high for p in points], spec))
    _legend(figure, colours, markers)


def _rows(points: Sequence[Point] | Sequence[Curve]) -> int:
    return 2 + len({p.init for p in points}) + len({p.backbone for p in points})


def throughput_plot(points: list[Point], spec: MetricSpec) -> str:
    figure, axes = _figure(_rows(points))
    x = np.array([p.throughput for p in points])
    _scatter(figure, axes, x, points, spec)
    front = sorted((p.throughput, p.value) for p in points if p.pareto)
    if len(front) > 1:
        fx, fy = zip(*front)
        axes.step(fx, fy, where="pre", color=INK, linewidth=1, linestyle="--", alpha=0.5, zorder=1)
    _labels(axes, "inference throughput (images / s)", spec)
    return _data_uri(figure)


def cost_plot(points: list[Point], spec: MetricSpec, label: str) -> str:
    """The metric against training compute: what an initialization buys is mostly speed of learning."""
    figure, axes = _figure(_rows(points))
    _scatter(figure, axes, np.array([p.cost for p in points]), points, spec)
    _labels(axes, label, spec)
    return _data_uri(figure)


def params_plot(points: list[Point], spec: MetricSpec) -> str:
    figure, axes = _figure(_rows(points))
    _scatter(figure, axes, np.array([p.params / 1e6 for p in points]), points, spec)
    _labels(axes, "parameters (millions)", spec)
    return _data_uri(figure)


def budget_plot(curves: list[Curve], spec: MetricSpec) -> str:
    """The ranking metric against labels per class (log scale), one line per (init, backbone) with its intervals;
    `full` sits at 4× the largest budget."""
    numeric = sorted({int(b) for curve in curves for b in curve.budgets if b.isdigit()})
    full_at = max(numeric) * 4 if numeric else 1
    colours = _styles([c.init for c in curves], PALETTE)
    markers = _styles([c.backbone for c in curves], MARKERS)
    figure, axes = _figure(_rows(curves))
    for curve in curves:
        x = [int(b) if b.isdigit() else full_at for b in curve.budgets]
        values = np.array(curve.values)
        axes.errorbar(x, values, yerr=[values - np.array(curve.lows), np.array(curve.highs) - values],
                      marker=markers[curve.backbone], markersize=4.5, linewidth=1.2, elinewidth=0.8, capsize=2,
                      color=colours[curve.init])
    ticks = numeric + [full_at]
    axes.set_xscale("log")
    axes.set_xticks(ticks, [str(t) for t in numeric] + ["full"])
    axes.minorticks_off()
    axes.set_ylim(*value_limits([v for c in curves for v in c.lows], [v for c in curves for v in c.highs], spec))
    _legend(figure, colours, markers)
    _labels(axes, "labels per class", spec)
    return _data_uri(figure)

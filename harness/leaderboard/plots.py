"""Plots (matplotlib → SVG data URIs for <img>): a metric against throughput with the Pareto front
marked, against parameter count, and against the label budget.

Points are labelled with numbers only; the page's legend maps numbers to entries, so no text from
records ever enters an SVG (and an SVG shown through <img> cannot run scripts anyway).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

INK, MUTED, ACCENT, GRID = "#1f2933", "#9aa5b1", "#1d4ed8", "#e4e7eb"


@dataclass(frozen=True)
class Point:
    number: int  # the legend number shown beside the point
    throughput: float
    params: float
    value: float  # the ranking metric's mean
    pareto: bool


def _axes(width: float = 5.4, height: float = 3.5) -> tuple[Figure, object]:
    figure = Figure(figsize=(width, height), dpi=100)
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.15, top=0.96)  # fixed margins: tight_layout costs a draw
    axes = figure.add_subplot()
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(MUTED)
    axes.tick_params(colors=INK, labelsize=8)
    axes.grid(True, color=GRID, linewidth=0.8)
    axes.set_axisbelow(True)
    return figure, axes


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _scatter(axes: object, x: np.ndarray, points: list[Point]) -> None:
    y = np.array([p.value for p in points])
    front = np.array([p.pareto for p in points])
    axes.scatter(x[~front], y[~front], s=28, color=MUTED, zorder=2)
    axes.scatter(x[front], y[front], s=36, color=ACCENT, zorder=3)
    for xi, yi, p in zip(x, y, points):
        axes.annotate(str(p.number), (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize=7,
                      color=ACCENT if p.pareto else INK)
    if np.ptp(x) > 0 and x.max() / max(x.min(), 1e-12) > 20:
        axes.set_xscale("log")


def throughput_plot(points: list[Point], metric_label: str) -> str:
    figure, axes = _axes()
    x = np.array([p.throughput for p in points])
    _scatter(axes, x, points)
    front = sorted((p.throughput, p.value) for p in points if p.pareto)
    if len(front) > 1:
        fx, fy = zip(*front)
        axes.step(fx, fy, where="pre", color=ACCENT, linewidth=1, alpha=0.6, zorder=1)
    axes.set_xlabel("inference throughput (images / s)", fontsize=9, color=INK, parse_math=False)
    axes.set_ylabel(metric_label, fontsize=9, color=INK, parse_math=False)
    return _data_uri(figure)


def params_plot(points: list[Point], metric_label: str) -> str:
    figure, axes = _axes()
    _scatter(axes, np.array([p.params / 1e6 for p in points]), points)
    axes.set_xlabel("parameters (millions)", fontsize=9, color=INK, parse_math=False)
    axes.set_ylabel(metric_label, fontsize=9, color=INK, parse_math=False)
    return _data_uri(figure)


@dataclass(frozen=True)
class Curve:
    number: int  # the legend number of the row (init source, backbone)
    budgets: tuple[str, ...]  # "8", "64", "full", in order
    values: tuple[float, ...]  # the ranking metric's mean at each budget


def budget_plot(curves: list[Curve], metric_label: str) -> str:
    """The ranking metric against labels per class (log scale), one numbered line per row; `full` sits at 4× the
    largest budget."""
    numeric = sorted({int(b) for curve in curves for b in curve.budgets if b.isdigit()})
    full_at = max(numeric) * 4 if numeric else 1
    figure, axes = _axes()
    for curve in curves:
        x = [int(b) if b.isdigit() else full_at for b in curve.budgets]
        (line,) = axes.plot(x, curve.values, marker="o", markersize=4, linewidth=1.2)
        axes.annotate(str(curve.number), (x[0], curve.values[0]), xytext=(-10, 0), textcoords="offset points", fontsize=7,
                      color=line.get_color())
    ticks = numeric + [full_at]
    axes.set_xscale("log")
    axes.set_xticks(ticks, [str(t) for t in numeric] + ["full"])
    axes.minorticks_off()
    axes.set_xlabel("labels per class", fontsize=9, color=INK, parse_math=False)
    axes.set_ylabel(metric_label, fontsize=9, color=INK, parse_math=False)
    return _data_uri(figure)

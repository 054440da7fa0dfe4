"""Board → a static site: jinja2 pages (autoescape on for every template), our stylesheet and
sorting script, SVG plots as data URIs, CAM PNGs copied in, CSV/JSON downloads.

Pages use relative links only, so the site works from file:// and any static host. The site is
built in a staging folder beside `out` and then replaces the previous build's files only
(harness.leaderboard.sitefolder), so stale pages never linger, a failed build leaves the previous
site untouched, and files medbench did not write (`.git`, `CNAME`) stay.
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

import harness
from harness.leaderboard.aggregate import CELL, Board, Entry
from harness.leaderboard.export import to_csv, to_json
from harness.leaderboard.plots import Curve, Point, budget_plot, cost_plot, params_plot, throughput_plot
from harness.leaderboard.public import page_output
from harness.leaderboard.sitefolder import replace_folder
from harness.leaderboard.stats import ALPHA, pareto_front, t_interval
from harness.metric_catalogue import EFFICIENCY, LEARNING_SPEED, MetricSpec, lookup
from harness.record import METRIC_COLUMN
from harness.results import slug

HERE = Path(__file__).resolve().parent
SAFE_URL = re.compile(r"https?://[^\s<>\"'`\\]+")


def safe_url(value: Any) -> bool:
    """Only absolute http(s) URLs become links; anything else (javascript:, data:, relative) stays text."""
    return isinstance(value, str) and SAFE_URL.fullmatch(value) is not None


def _absent(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any, digits: int = 3) -> str:
    return "—" if _absent(value) else f"{value:.{digits}f}"


def _pvalue(value: Any) -> str:
    if _absent(value):
        return "n/a"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _si(value: float) -> str:
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.1f} {prefix}"
    return f"{value:.0f}"


def _efficiency(value: Any, name: str) -> str:
    if _absent(value):
        return "—"
    if name == "peak_memory_bytes":
        return f"{value / 2**30:.2f} GiB" if value >= 2**30 else f"{value / 2**20:.0f} MiB"
    if name in ("params", "flops", "train_flops", "train_flops_to_95", "train_images_to_95"):
        return _si(value)
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _sort_value(value: Any) -> str:
    """What a table cell sorts by (data-v): a plain number, or empty for 'no number'."""
    return "" if _absent(value) else repr(float(value))


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             finalize=page_output)
    env.filters.update(num=_num, pvalue=_pvalue, eff=_efficiency, sortv=_sort_value)
    env.tests.update(safe_url=safe_url, finite=lambda v: isinstance(v, (int, float)) and math.isfinite(v))
    return env


class View:
    """What templates look up: cells and states by key, hrefs, labels. No numbers are computed here."""

    def __init__(self, board: Board, cams: dict[str, list[dict[str, Any]]]) -> None:
        self.board = board
        self.definition = board.definition
        self.metrics = board.definition.metrics
        self.efficiency = EFFICIENCY
        self.learning_speed = LEARNING_SPEED
        self.tasks = list(board.rank_metric)
        self.alpha = ALPHA
        self.cams = cams
        self._cells = {tuple(r[k] for k in CELL + ["metric"]): r for r in board.cells.to_dict(orient="records")}
        self._states = {tuple(r[k] for k in CELL): r for r in board.states.to_dict(orient="records")}
        self.rows = board.overview.to_dict(orient="records")
        self.records = len(board.runs)
        self.has_regimes = not board.regimes.empty
        self.as_of = max(board.runs["finished_at"], default="")
        self.version = harness.__version__

    def cell(self, init: str, backbone: str, task: str, metric: str) -> dict[str, Any] | None:
        return self._cells.get((init, backbone, task, metric))

    def state(self, init: str, backbone: str, task: str) -> dict[str, Any] | None:
        return self._states.get((init, backbone, task))

    def rank_spec(self, task: str) -> MetricSpec:
        return next(m for m in self.metrics if m.name == self.board.rank_metric[task])

    def task_metrics(self, task: str) -> list[MetricSpec]:
        """The ranking metric first, then the definition's other metrics this task reports."""
        reported = {r["metric"] for r in self._cells.values() if r["task"] == task}
        ranking = self.rank_spec(task)
        return [ranking] + [m for m in self.metrics if m.name in reported and m.name != ranking.name]

    def task_rows(self, task: str) -> list[dict[str, Any]]:
        """Overview rows that have a result on this task, best ranked first."""
        rows = [r for r in self.rows if self.state(r["init"], r["backbone"], task)]
        rank = {(r["init"], r["backbone"]): r.get("task_rank") for r in self._cells.values()
                if r["task"] == task and r["metric"] == self.board.rank_metric[task]}
        return sorted(rows, key=lambda r: (_nan_last(rank.get((r["init"], r["backbone"]))), r["init"], r["backbone"]))

    def task_rank(self, init: str, backbone: str, task: str) -> Any:
        cell = self.cell(init, backbone, task, self.board.rank_metric[task])
        return cell["task_rank"] if cell else None

    def seeds(self, task: str) -> list[int]:
        return sorted(set(self.board.runs.loc[self.board.runs["task"] == task, "seed"]))

    def seed_values(self, init: str, backbone: str, task: str) -> dict[int, dict[str, Any]]:
        """Seed → {state, value of the ranking metric}: the spread behind a row's mean, failed seeds included."""
        runs = self.board.runs
        mine = runs[(runs["init"] == init) & (runs["backbone"] == backbone) & (runs["task"] == task)]
        column = METRIC_COLUMN + self.board.rank_metric[task]
        return {int(r["seed"]): {"state": r["state"], "value": None if _absent(r.get(column)) else float(r[column])}
                for r in mine.to_dict(orient="records")}

    def entry_rows(self, init: str) -> list[dict[str, Any]]:
        return [s for s in self._states.values() if s["init"] == init]

    def runs(self, init: str) -> list[dict[str, Any]]:
        runs = self.board.runs[self.board.runs["init"] == init].sort_values(["task", "backbone", "seed"])
        return runs.astype(object).where(runs.notna(), None).to_dict(orient="records")

    def entry(self, init: str) -> Entry:
        return self.board.entries[init]

    def task_href(self, task: str) -> str:
        return f"task/{slug(task)}.html"

    def entry_href(self, init: str) -> str:
        return f"entry/{self.board.entries[init].slug}.html"


def _nan_last(value: Any) -> float:
    return math.inf if _absent(value) else float(value)


def _interval(cell: dict[str, Any]) -> tuple[float, float]:
    """A cell's 95 % interval for an error bar; none (both ends at the mean) when it has fewer than two seeds."""
    low, high = cell.get("ci_low"), cell.get("ci_high")
    if _absent(low) or _absent(high):
        return float(cell["mean"]), float(cell["mean"])
    return float(low), float(high)


def _efficiency_plots(view: View) -> list[dict[str, Any]]:
    """Per task: the ranking metric against throughput (Pareto front marked), parameters and training compute.

    Throughput is a property of the architecture: rows of one backbone differ only by measurement noise, so each
    backbone's rows share its median throughput (their spread is shown) and never outrank one another by it."""
    sections = []
    for task in view.tasks:
        spec = view.rank_spec(task)
        rows = []
        for row in view.task_rows(task):
            key = (row["init"], row["backbone"], task)
            metric, speed, params = (view.cell(*key, name) for name in (spec.name, "infer_images_per_s", "params"))
            cost = view.cell(*key, "train_flops_to_95") or view.cell(*key, "train_flops")
            if metric and speed and params and metric["state"] == "ok":
                rows.append((row, metric, speed["mean"], params["mean"], cost["mean"] if cost else math.nan))
        if not rows:
            continue
        pooled = _per_backbone([(r[0]["backbone"], r[2]) for r in rows])
        front = pareto_front(np.array([pooled[r[0]["backbone"]][0] for r in rows]),
                             np.array([r[1]["mean"] for r in rows]) * spec.sign)
        plotted = [Point(row["init"], row["backbone"], pooled[row["backbone"]][0], float(params), float(metric["mean"]),
                         *_interval(metric), bool(on_front), float(cost))
                   for (row, metric, _, params, cost), on_front in zip(rows, front)]
        costed = [p for p in plotted if math.isfinite(p.cost) and p.cost > 0]
        sections.append({"task": task, "metric": spec, "throughput_svg": throughput_plot(plotted, spec),
                         "params_svg": params_plot(plotted, spec),
                         "cost_svg": cost_plot(costed, spec, "training FLOPs to 95 % of final validation") if costed else None,
                         "legend": [{**row, "point": p, "spread": pooled[row["backbone"]][1],
                                     "epoch": _mean(view.cell(row["init"], row["backbone"], task, "epoch_to_95")),
                                     "seconds": _mean(view.cell(row["init"], row["backbone"], task, "train_seconds_to_95"))}
                                    for (row, *_), p in zip(rows, plotted)]})
    return sections


def _per_backbone(speeds: list[tuple[str, float]]) -> dict[str, tuple[float, float]]:
    """Backbone → (median throughput over its rows, (max − min) / median): one architecture, one speed."""
    pooled = {}
    for backbone in {b for b, _ in speeds}:
        values = np.array([v for b, v in speeds if b == backbone], dtype=float)
        median = float(np.median(values))
        pooled[backbone] = (median, float(np.ptp(values)) / median if median > 0 else math.nan)
    return pooled


def _mean(cell: dict[str, Any] | None) -> float | None:
    return None if cell is None or _absent(cell.get("mean")) else float(cell["mean"])


def _metric_spec(view: View, name: str) -> MetricSpec:
    ranked = next((m for m in view.metrics if m.name == name), None)
    return ranked or lookup(name)


def _regime_sections(view: View) -> list[dict[str, Any]]:
    """Per task, mode and size: one row per (init, backbone) with the metric at each label budget, and a curve of it
    against the budget where there are several."""
    sections = []
    for (task, mode, size), group in view.board.regimes.groupby(["task", "mode", "image_size"], sort=False, dropna=False):
        budgets = list(dict.fromkeys(group["label_budget"]))  # the table is sorted by budget
        rows = []
        for (init, backbone), cells in group.groupby(["init", "backbone"], sort=True):
            by_budget = {cell["label_budget"]: cell for cell in cells.to_dict(orient="records")}
            rows.append({"init": init, "backbone": backbone, "cells": [by_budget.get(b) for b in budgets]})
        spec = _metric_spec(view, group["metric"].iloc[0])
        sections.append({"task": task, "mode": mode, "image_size": None if _absent(size) else int(size),
                         "budgets": budgets, "rows": rows, "metric": spec,
                         "svg": budget_plot([_curve(row, budgets, spec) for row in rows], spec) if len(budgets) > 1 else None})
    return sections


def _curve(row: dict[str, Any], budgets: list[str], spec: MetricSpec) -> Curve:
    """A row of the regimes table as a line: its means and their 95 % t-intervals, clipped to the metric's range."""
    shown = [(b, c) for b, c in zip(budgets, row["cells"]) if c]
    mean, sd, n = (np.array([float(c[k]) for _, c in shown]) for k in ("mean", "sd", "n"))
    low, high = t_interval(mean, sd, n)
    low = np.where(np.isfinite(low), np.maximum(low, spec.low), mean)
    high = np.where(np.isfinite(high), np.minimum(high, spec.high), mean)
    return Curve(row["init"], row["backbone"], tuple(b for b, _ in shown), tuple(mean), tuple(low), tuple(high))


def _copy_cams(board: Board, site: Path) -> dict[str, list[dict[str, Any]]]:
    """Per entry, one gallery per (task, backbone): the lowest seed's CAM PNGs, copied under cams/ by
    content hash so no record text becomes a file name."""
    galleries: dict[str, list[dict[str, Any]]] = {}
    for name, entry in board.entries.items():
        first_seed = {}
        for cam in entry.cams:
            first_seed[(cam.task, cam.backbone)] = min(cam.seed, first_seed.get((cam.task, cam.backbone), cam.seed))
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for cam in entry.cams:
            if cam.seed != first_seed[(cam.task, cam.backbone)]:
                continue
            data = cam.source.read_bytes()
            target = site / "cams" / f"{hashlib.sha256(data).hexdigest()[:20]}.png"
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)
            group = groups.setdefault((cam.task, cam.backbone), {"task": cam.task, "backbone": cam.backbone, "seed": cam.seed,
                                                                 "method": cam.method, "images": []})
            group["images"].append({"href": f"cams/{target.name}", "file": cam.source.name})
        galleries[name] = [groups[key] for key in sorted(groups)]
    return galleries


def _write_site(board: Board, site: Path) -> None:
    env = environment()
    view = View(board, _copy_cams(board, site))

    def page(template: str, path: str, **context: Any) -> None:
        target = site / path
        target.parent.mkdir(parents=True, exist_ok=True)
        root = "../" * path.count("/")
        target.write_text(env.get_template(template).render(view=view, root=root, **context), encoding="utf-8")

    page("index.html", "index.html")
    for task in view.tasks:
        page("task.html", view.task_href(task), task=task, card=board.task_cards.get(task, {}))
    for init in board.entries:
        page("entry.html", view.entry_href(init), init=init)
    page("efficiency.html", "efficiency.html", sections=_efficiency_plots(view))
    if view.has_regimes:
        page("regimes.html", "regimes.html", sections=_regime_sections(view))
    shutil.copytree(HERE / "static", site / "static")
    (site / "data").mkdir()
    (site / "data" / "leaderboard.csv").write_text(to_csv(board), encoding="utf-8")
    (site / "data" / "leaderboard.json").write_text(to_json(board), encoding="utf-8")


def build_site(board: Board, out: Path) -> Path:
    replace_folder(out, lambda staging: _write_site(board, staging))
    return out / "index.html"

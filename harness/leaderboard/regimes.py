"""Label efficiency across evaluation regimes: each init source's ranking metric per mode, size and label budget.

A leaderboard ranks one regime (by default: fine-tuned on every label). Records of other regimes
(`--mode linear-probe|knn`, `--label-budget N`, `--image-size N`) are summarised here instead: mean,
sd and n over the seeds that finished, and the difference to the baseline's mean in the same
regime, so one can read whether an init's advantage grows as labels shrink.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.record import FULL_BUDGET, METRIC_COLUMN
from harness.results_table import budget_order

if TYPE_CHECKING:
    from harness.leaderboard.definition import Definition

REGIME = ["mode", "image_size", "label_budget"]
ROWS = ["task", *REGIME, "init", "backbone"]


def regime_label(row: Mapping[str, Any]) -> str:
    """'linear-probe · 8 labels/class · 224 px': the size only where it overrides the protocol's."""
    budget = row["label_budget"]
    parts = [str(row["mode"]), "every label" if budget == FULL_BUDGET else f"{budget} labels/class"]
    if row.get("size_override", row.get("image_size") is not None) and row.get("image_size"):
        parts.append(f"{int(row['image_size'])} px")
    return " · ".join(parts)


def regime_table(runs: pd.DataFrame, definition: "Definition", rank_metric: dict[str, str],
                 baseline: str | None) -> pd.DataFrame:
    """One row per (task, mode, size, budget, init, backbone) with the task's ranking metric over finished seeds
    (the latest record per seed); empty when no task has records in more than one regime."""
    ok = runs[runs["state"] == "ok"].sort_values("finished_at", kind="stable").drop_duplicates(ROWS + ["seed"], keep="last")
    if ok.empty or ok[["task", *REGIME]].drop_duplicates()["task"].value_counts().max() < 2:
        return pd.DataFrame()
    metric = ok["task"].map(lambda task: rank_metric.get(task, definition.metrics[0].name))
    values = [row.get(METRIC_COLUMN + name) for row, name in zip(ok.to_dict(orient="records"), metric)]
    ok = ok.assign(metric=metric, value=pd.to_numeric(pd.Series(values, index=ok.index))).dropna(subset=["value"])
    table = ok.groupby(ROWS + ["metric"], sort=False, dropna=False)["value"].agg(["mean", "std", "count"]).reset_index()
    table = table.rename(columns={"std": "sd", "count": "n"})
    if baseline is not None:
        base = table.loc[table["init"] == baseline, ["task", *REGIME, "backbone", "mean"]]
        table = table.merge(base.rename(columns={"mean": "baseline_mean"}), on=["task", *REGIME, "backbone"], how="left")
        table["delta"] = table["mean"] - table["baseline_mean"]
    else:
        table = table.assign(baseline_mean=float("nan"), delta=float("nan"))
    key = lambda column: budget_order(column) if column.name == "label_budget" else column  # noqa: E731
    return table.sort_values(ROWS, key=key, kind="stable").reset_index(drop=True)

"""Records as a pandas table, and mean ± sd over seeds per cell: what `medbench results` prints.

Kept apart from `harness.results` (reading and writing records) so that commands that only read
records do not pay for importing pandas.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.record import EFFICIENCY_COLUMN, METRIC_COLUMN
from harness.results import iter_records


def budget_order(budgets: pd.Series) -> pd.Series:
    """Sort key for label budgets: numerically, `full` last."""
    return pd.to_numeric(budgets, errors="coerce").fillna(float("inf"))


def records_frame(folder: Path) -> pd.DataFrame:
    """One row per record (`RunRecord.row`: identity, regime, status, `metric:NAME` and `eff:NAME` columns)."""
    return pd.DataFrame([record.row(path) for path, record in iter_records(folder)])


def column_of(frame: pd.DataFrame, name: str) -> str | None:
    """The column of a metric or efficiency figure named as in the record (`auroc`, `wall_time_s`)."""
    return next((prefix + name for prefix in (METRIC_COLUMN, EFFICIENCY_COLUMN) if prefix + name in frame), None)


KEYS = ["task", "init", "backbone", "protocol", "mode", "label_budget", "image_size"]


def _sort_key(column: pd.Series) -> pd.Series:
    return budget_order(column) if column.name == "label_budget" else column


def summarize(frame: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean ± sd over seeds per (task, init, backbone, protocol, regime); runs that did not finish are counted, not
    averaged."""
    if frame.empty:
        return pd.DataFrame()
    ok = frame[frame["status"] == "ok"]
    grouped = frame.groupby(KEYS, sort=False, dropna=False)
    table = grouped.agg(seeds=("seed", "nunique")).reset_index()
    not_ok = frame[frame["status"] != "ok"].groupby(KEYS, dropna=False)["status"].agg(lambda s: ",".join(sorted(set(s))))
    table = table.merge(not_ok.rename("not_ok").reset_index(), on=KEYS, how="left")
    for metric in metrics:
        column = column_of(ok, metric)
        if column is None:
            continue
        stats = ok.groupby(KEYS, dropna=False)[column].agg(["mean", "std", "count"]).reset_index()
        stats = stats.rename(columns={"mean": f"{metric}_mean", "std": f"{metric}_sd", "count": f"{metric}_n"})
        table = table.merge(stats, on=KEYS, how="left")
    return table.sort_values(KEYS, key=_sort_key, kind="stable").reset_index(drop=True)


def format_mean_sd(mean: float, sd: float, n: int) -> str:
    if pd.isna(mean):
        return "—"
    return f"{mean:.3f}" if n < 2 or pd.isna(sd) else f"{mean:.3f} ± {sd:.3f}"

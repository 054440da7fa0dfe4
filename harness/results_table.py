"""Records as a pandas table, and mean ± sd over seeds per cell: what `medbench results` prints.

Kept apart from `harness.results` (reading and writing records) so that commands that only read
records do not pay for importing pandas.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.results import iter_records, regime_of, scalars


def budget_order(budgets: pd.Series) -> pd.Series:
    """Sort key for label budgets: numerically, `full` last."""
    return pd.to_numeric(budgets, errors="coerce").fillna(float("inf"))


def records_frame(folder: Path) -> pd.DataFrame:
    """One row per record: identity columns (regime included), status, and every scalar metric / efficiency figure."""
    rows = []
    for path, record in iter_records(folder):
        row = {key: record.get(key) for key in ("task", "init", "backbone", "protocol", "seed", "status")}
        row.update(regime_of(record))
        row["path"] = str(path)
        for section in ("metrics", "efficiency"):
            row.update(scalars(record.get(section)))
        rows.append(row)
    return pd.DataFrame(rows)


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
        if metric not in ok:
            continue
        stats = ok.groupby(KEYS, dropna=False)[metric].agg(["mean", "std", "count"]).reset_index()
        stats = stats.rename(columns={"mean": f"{metric}_mean", "std": f"{metric}_sd", "count": f"{metric}_n"})
        table = table.merge(stats, on=KEYS, how="left")
    return table.sort_values(KEYS, key=_sort_key, kind="stable").reset_index(drop=True)


def format_mean_sd(mean: float, sd: float, n: int) -> str:
    if pd.isna(mean):
        return "—"
    return f"{mean:.3f}" if n < 2 or pd.isna(sd) else f"{mean:.3f} ± {sd:.3f}"

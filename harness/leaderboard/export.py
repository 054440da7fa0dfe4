"""The aggregated leaderboard as files for papers, READMEs and the site's downloads: Markdown, CSV, JSON."""

from __future__ import annotations

import html
import json

import pandas as pd
from tabulate import tabulate

from harness.csvsafe import to_safe_csv
from harness.leaderboard.aggregate import CELL, Board
from harness.leaderboard.public import public, without_local_paths
from harness.record import json_safe

FORMATS = ("md", "csv", "json")
CELL_COLUMNS = CELL + ["metric", "kind", "state", "n", "expected_n", "missing_seeds", "not_ok_seeds", "contaminated_by",
                       "mean", "sd", "ci_low", "ci_high", "task_rank", "delta", "paired_n", "p_t", "p_bootstrap", "mark"]


def cells_table(board: Board) -> pd.DataFrame:
    """One row per (init, backbone, task, metric); a cell with no number keeps one row carrying its state."""
    table = board.states.merge(board.cells.drop(columns="state"), on=CELL, how="left").reindex(columns=CELL_COLUMNS)
    return table.astype({"n": "Int64", "paired_n": "Int64", "task_rank": "Int64"})


def to_csv(board: Board) -> str:
    return to_safe_csv(cells_table(board).map(public))


def to_json(board: Board) -> str:
    data = {"definition": board.definition.to_dict(), "baseline": board.baseline, "rank_metric": board.rank_metric,
            "overview": board.overview.to_dict(orient="records"), "cells": cells_table(board).to_dict(orient="records"),
            "notes": list(board.notes), "regimes": board.regimes.to_dict(orient="records")}
    return json.dumps(public(json_safe(data)), indent=1, allow_nan=False) + "\n"


def _md(text: object) -> str:
    """Record text made inert in Markdown: HTML-escaped, no table-breaking pipes or newlines."""
    return html.escape(" ".join(without_local_paths(str(text)).split())).replace("|", "\\|")


def summary_text(board: Board, init: str, backbone: str, task: str) -> str:
    """'mean ± sd ▲' for a row's ranking metric on a task, or its state when it has no ranked number."""
    state = board.states.set_index(CELL)["state"].get((init, backbone, task), "—")
    cell = board.cells[(board.cells["init"] == init) & (board.cells["backbone"] == backbone) & (board.cells["task"] == task)
                       & (board.cells["metric"] == board.rank_metric.get(task))]
    if cell.empty or state not in ("ok", "incomplete"):
        return state
    row = cell.iloc[0]
    text = f"{row['mean']:.3f}" + (f" ± {row['sd']:.3f}" if pd.notna(row["sd"]) else "")
    return f"{text} ({state})" if state != "ok" else f"{text} {row['mark']}".rstrip()


def to_markdown(board: Board) -> str:
    definition = board.definition
    headers = ["#", "init", "backbone", "score"] + [f"{_md(t)} ({board.rank_metric[t]})" for t in board.rank_metric]
    rows = [[f"{r['rank']:.0f}" if pd.notna(r["rank"]) else "—", _md(r["init"]), _md(r["backbone"]),
             f"{r['score']:.3f}" if pd.notna(r["score"]) else "—"]
            + [summary_text(board, r["init"], r["backbone"], t) for t in board.rank_metric]
            for r in board.overview.to_dict(orient="records")]
    baseline = f"baseline {_md(board.baseline)}" if board.baseline else "no baseline"
    legend = (f"Protocol `{definition.protocol}`; mean ± sd over seeds; score = mean over tasks of the normalised "
              f"ranking metric (best row 1, worst 0). ▲/▼: better/worse than the {baseline} (paired t-test over seeds, "
              "p < 0.05); ≈: no significant difference.")
    table = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return f"## {_md(definition.title)}\n\n{table}\n\n{legend}\n"


WRITERS = {"md": to_markdown, "csv": to_csv, "json": to_json}

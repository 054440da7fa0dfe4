"""The real study's headline table: cpmid-real against scratch and against cpmid-synth, per task, backbone and mode.

Every number comes from the leaderboard's own aggregation (harness.leaderboard.build_board): mean and 95 %
t-interval over seeds, and the paired t-test over seeds (and paired bootstrap over test images where
predictions are stored) against a baseline. The board is built twice per definition, once with scratch and
once with cpmid-synth as the baseline, so both comparisons are the leaderboard's paired tests.

    python benchmarks/real_study_headline.py --results results/real-cpu-v1 > headline.md
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pandas as pd

from harness.leaderboard import build_board, load_definition

REAL, SYNTH, SCRATCH = "cpmid:cpmid-real", "cpmid:cpmid-synth", "scratch"


def _cell(board, init: str, backbone: str, task: str, metric: str) -> pd.Series | None:
    cells = board.cells
    rows = cells[(cells["init"] == init) & (cells["backbone"] == backbone) & (cells["task"] == task)
                 & (cells["metric"] == metric)]
    return rows.iloc[0] if len(rows) else None


def _value(cell: pd.Series | None) -> str:
    if cell is None:
        return "not run"
    if cell["state"] != "ok":
        return str(cell["state"])
    if cell["sd"] == 0:  # a frozen-feature probe of fixed weights repeats one number on every seed
        return f"{cell['mean']:.3f} (same each seed)"
    interval = f" [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]" if pd.notna(cell["ci_low"]) else " (one seed)"
    return f"{cell['mean']:.3f}{interval}"


def _p(value: float) -> str:
    return "—" if pd.isna(value) else ("<0.001" if value < 0.001 else f"{value:.3f}")


def _delta(cell: pd.Series | None) -> str:
    if cell is None or cell["state"] != "ok" or pd.isna(cell["delta"]):
        return "—"
    return f"{cell['delta']:+.3f} (t {_p(cell['p_t'])}, boot {_p(cell['p_bootstrap'])})"


def headline(results: Path, definitions: list[str]) -> str:
    lines = ["| task | backbone | mode | metric | scratch | cpmid-synth | cpmid-real | real − scratch | real − synth |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in definitions:
        definition = load_definition(name)
        vs_scratch = build_board(results, dataclasses.replace(definition, baseline=(SCRATCH,)))
        vs_synth = build_board(results, dataclasses.replace(definition, baseline=(SYNTH,)))
        for task, ranked in vs_scratch.rank_metric.items():
            # the ranking metric (paired t-test), and balanced accuracy, which also gets the paired bootstrap
            metrics = [ranked] + (["balanced_accuracy"] if ranked == "auroc" else [])
            for backbone in sorted(set(vs_scratch.runs.loc[vs_scratch.runs["task"] == task, "backbone"])):
                for metric in metrics:
                    real = _cell(vs_scratch, REAL, backbone, task, metric)
                    lines.append(f"| {task} | {backbone} | {definition.mode} | {metric} | "
                                 f"{_value(_cell(vs_scratch, SCRATCH, backbone, task, metric))} | "
                                 f"{_value(_cell(vs_scratch, SYNTH, backbone, task, metric))} | {_value(real)} | "
                                 f"{_delta(real)} | {_delta(_cell(vs_synth, REAL, backbone, task, metric))} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/real-cpu-v1"))
    parser.add_argument("--definitions", default="real-cpu,real-cpu-probe")
    args = parser.parse_args()
    print(headline(args.results, args.definitions.split(",")), end="")


if __name__ == "__main__":
    main()

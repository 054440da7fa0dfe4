"""Records → the numbers a leaderboard shows, with pandas.

Per (init or submission, backbone, task) and metric: mean ± sd, a 95 % t interval and n over the
seeds the protocol declares. A cell is ranked only when every declared seed finished `ok`; a
contaminated, diverged or failed cell is shown as such and carries no number; a cell missing a
seed is `incomplete` (its partial mean is kept, marked, never ranked). Each ranked cell is compared
with the baseline's cell on the same backbone and task: a paired t-test over matching seeds and,
when both sides stored per-image test predictions, a paired bootstrap over test images.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import MedbenchError
from harness.kinds import SINGLE_LABEL_KINDS
from harness.leaderboard.definition import Definition, default_definition
from harness.leaderboard.public import page_slug
from harness.leaderboard.regimes import regime_label, regime_table
from harness.leaderboard.stats import ALPHA, BOOTSTRAP_METRICS, paired_bootstrap, paired_t_pvalue, t_interval
from harness.metric_catalogue import EFFICIENCY, LEARNING_SPEED, MetricSpec, lookup
from harness.record import DEFAULT_MODE, EFFICIENCY_COLUMN, FULL_BUDGET, METRIC_COLUMN, RunRecord
from harness.results import iter_records
from harness.zipcap import check_zip

CELL = ["init", "backbone", "task"]
ROW = ["init", "backbone"]
MARKS = {"better": "▲", "worse": "▼", "same": "≈"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PREDICTIONS_BYTES = 2 * 1024**3  # per-image test probabilities beside a record, read for paired bootstraps


@dataclass(frozen=True)
class Cam:
    source: Path
    task: str
    backbone: str
    seed: int
    method: str


@dataclass
class Entry:
    """One init source or submission: what its records say about where it came from."""

    name: str
    slug: str
    manifest: dict[str, Any] = field(default_factory=dict)
    init_provenance: dict[str, Any] = field(default_factory=dict)
    cams: list[Cam] = field(default_factory=list)


@dataclass(frozen=True)
class Board:
    definition: Definition
    baseline: str | None
    runs: pd.DataFrame  # one row per record kept
    states: pd.DataFrame  # one row per (init, backbone, task): state, expected / missing / not-ok seeds
    cells: pd.DataFrame  # one row per (init, backbone, task, metric) that has a number to show
    overview: pd.DataFrame  # one row per (init, backbone), ranked by the mean normalised task score
    rank_metric: dict[str, str]  # task → the metric that ranks it
    task_cards: dict[str, dict[str, Any]]
    entries: dict[str, Entry]
    notes: tuple[str, ...]
    regimes: pd.DataFrame = field(default_factory=pd.DataFrame)  # label efficiency: see harness.leaderboard.regimes


def _cams(record: RunRecord, path: Path, root: Path) -> list[Cam]:
    """CAM PNGs the record lists, kept only when they are PNG files inside the results folder."""
    found = []
    for name in record.artifacts.get("cam_pngs") or []:
        source = (path.parent / str(name)).resolve()
        if source.is_relative_to(root) and source.is_file() and source.read_bytes()[:8] == PNG_SIGNATURE:
            found.append(Cam(source, record.task, record.backbone, record.seed,
                             str(record.artifacts.get("cam_method") or "")))
    return found


def load_runs(results: Path) -> tuple[pd.DataFrame, dict[str, Entry], dict[str, dict[str, Any]]]:
    """One row per record (identity, state, declared seeds, provenance summary, metrics, efficiency)."""
    root = results.resolve()
    rows, entries, cards = [], {}, {}
    for path, record in iter_records(results):
        rows.append(record.row(path))
        prov = record.provenance
        init_prov = dict(prov.get("init_provenance") or {})
        entry = entries.setdefault(record.init, Entry(record.init, page_slug(record.init)))
        entry.manifest = entry.manifest or dict(init_prov.pop("manifest", None) or {})
        entry.init_provenance = entry.init_provenance or {k: v for k, v in init_prov.items() if k != "manifest"}
        entry.cams.extend(_cams(record, path, root))
        # the task page shows the card and the dataset audit its runs applied (duplicates across splits)
        card = cards.setdefault(record.task, {**(prov.get("task_card") or {}), "data_audit": record.data_audit})
        if (card["data_audit"] or {}).get("skipped") and not (record.data_audit or {}).get("skipped"):
            card["data_audit"] = record.data_audit  # a run that audited says more than one that skipped it
    if not rows:
        raise MedbenchError(f"no result records in {results}; run `medbench run --out {results}` first")
    return pd.DataFrame(rows), entries, cards


def _in_scope(runs: pd.DataFrame, definition: Definition, baseline: str | None) -> pd.Series:
    """The definition's protocol, tasks and entries, in any evaluation regime."""
    keep = (runs["protocol"] == definition.protocol) & runs["task"].isin(definition.tasks)
    if definition.inits is not None:
        keep &= runs["init"].isin(set(definition.inits) | {baseline})
    return keep


def _in_regime(runs: pd.DataFrame, definition: Definition) -> pd.Series:
    size = runs["image_size"] == definition.image_size if definition.image_size else ~runs["size_override"]
    return (runs["mode"] == definition.mode) & (runs["label_budget"] == definition.label_budget) & size


def _select(runs: pd.DataFrame, definition: Definition, baseline: str | None) -> tuple[pd.DataFrame, list[str]]:
    """Keep the definition's protocol, tasks, entries and regime; one record per seed (the latest)."""
    notes = []
    other = runs[runs["protocol"] != definition.protocol]
    if len(other):
        kinds = ", ".join(f"{p} ({n})" for p, n in Counter(other["protocol"]).most_common())
        notes.append(f"left out {len(other)} record(s) of other protocols: {kinds}")
    in_regime = _in_regime(runs, definition)
    elsewhere = runs[(runs["protocol"] == definition.protocol) & ~in_regime]
    if len(elsewhere):
        counts = Counter(map(regime_label, elsewhere.to_dict(orient="records")))
        kinds = ", ".join(f"{k} ({n})" for k, n in counts.most_common())
        notes.append(f"ranked: {regime_label(definition.to_dict())}; {len(elsewhere)} record(s) of other evaluation regimes "
                     f"are on the label-efficiency page: {kinds}")
    chosen = runs[_in_scope(runs, definition, baseline) & in_regime].sort_values("finished_at", kind="stable")
    unique = chosen.drop_duplicates(CELL + ["seed"], keep="last")
    if len(unique) < len(chosen):
        notes.append(f"{len(chosen) - len(unique)} duplicate record(s) of the same seed: the latest finished one is used")
    if unique.empty:
        raise MedbenchError(f"no records for protocol {definition.protocol!r} and tasks {', '.join(definition.tasks)}; "
                            + _where_records_are(runs, definition))
    return unique.reset_index(drop=True), notes


def _where_records_are(runs: pd.DataFrame, definition: Definition) -> str:
    """What to try instead when nothing matches: the protocol the definition's tasks were run with."""
    for_tasks = runs[runs["task"].isin(definition.tasks)]
    if for_tasks.empty:
        return "check --results and the definition"
    protocol, count = Counter(for_tasks["protocol"]).most_common(1)[0]
    if protocol == definition.protocol:
        return "check --results and the definition's entries and regime"
    return f"{count} record(s) of these tasks are protocol {protocol!r}: pass --protocol {protocol}"


def _cell_states(runs: pd.DataFrame, seeds: tuple[int, ...] | None) -> tuple[pd.DataFrame, list[int]]:
    """State, expected and missing seeds per cell, and the index of the runs inside their cell's expected seeds."""
    rows, inside_index = [], []
    for key, group in runs.groupby(CELL, sort=True):
        # by default a cell is ranked on every seed it ran, and needs at least the protocol's declared ones
        expected = set(seeds) if seeds is not None else set().union(*group["declared_seeds"]) | set(group["seed"])
        inside = group[group["seed"].isin(expected)]
        inside_index.extend(inside.index)
        states = set(inside["state"])
        missing = sorted(expected - set(inside.loc[inside["state"] == "ok", "seed"]))
        state = next((s for s in ("contaminated", "diverged", "failed") if s in states), "incomplete" if missing else "ok")
        bad = inside.loc[inside["state"] != "ok", "seed"]
        sources = sorted({name for names in inside["contaminated_by"] for name in names.split(", ") if name})
        rows.append((*key, state, len(expected), _seed_list(expected), _seed_list(missing), _seed_list(bad), ", ".join(sources)))
    columns = CELL + ["state", "expected_n", "expected_seeds", "missing_seeds", "not_ok_seeds", "contaminated_by"]
    return pd.DataFrame(rows, columns=columns), inside_index


def _seed_list(seeds: Any) -> str:
    return ",".join(str(s) for s in sorted(seeds))


def _long(runs: pd.DataFrame, specs: tuple[MetricSpec, ...], prefix: str) -> pd.DataFrame:
    columns = [prefix + m.name for m in specs if prefix + m.name in runs]
    frame = runs[CELL + ["seed"] + columns].melt(id_vars=CELL + ["seed"], var_name="metric", value_name="value")
    frame["metric"] = frame["metric"].str.removeprefix(prefix)
    return frame.dropna(subset=["value"])


def _summaries(values: pd.DataFrame) -> pd.DataFrame:
    stats = values.groupby(CELL + ["metric"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    stats = stats.rename(columns={"std": "sd", "count": "n"})
    low, high = t_interval(stats["mean"], stats["sd"], stats["n"])
    ranges = np.array([(lookup(name).low, lookup(name).high) for name in stats["metric"]], dtype=float).reshape(-1, 2)
    stats["ci_low"] = np.maximum(low, ranges[:, 0])  # a t interval ignores that an AUROC cannot pass 1:
    stats["ci_high"] = np.minimum(high, ranges[:, 1])  # clipped to the metric's range, as the legend says
    return stats


def _paired(values: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per cell and metric: mean difference to the baseline over matching seeds, and the paired t-test p."""
    base = values[values["init"] == baseline].drop(columns="init").rename(columns={"value": "base"})
    pairs = values[values["init"] != baseline].merge(base, on=["backbone", "task", "seed", "metric"])
    pairs["d"] = pairs["value"] - pairs["base"]
    diff = pairs.groupby(CELL + ["metric"], sort=False)["d"].agg(["mean", "std", "count"]).reset_index()
    diff = diff.rename(columns={"mean": "delta", "count": "paired_n"})
    diff["p_t"] = paired_t_pvalue(diff["delta"], diff["std"], diff["paired_n"])
    return diff.drop(columns="std")


def _predicted(paths: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Targets and S×N predicted labels from per-seed prediction files (npz: targets, probs)."""
    try:
        for path in paths:
            check_zip(Path(path), str(path), MAX_PREDICTIONS_BYTES)
        loaded = [np.load(p, allow_pickle=False) for p in paths]
        targets = loaded[0]["targets"]
        if any(not np.array_equal(f["targets"], targets) for f in loaded):
            return None
        return targets, np.stack([f["probs"].argmax(axis=1) for f in loaded])
    except (OSError, KeyError, ValueError):
        return None


def _bootstrap(cells: pd.DataFrame, runs: pd.DataFrame, baseline: str, single_label: dict[str, bool]) -> pd.Series:
    """Paired bootstrap p per compared cell where both sides have predictions for every matched seed."""
    p_boot = pd.Series(np.nan, index=cells.index)
    if runs["predictions"].isna().all():
        return p_boot
    ok = runs[runs["state"] == "ok"].set_index(CELL + ["seed"])["predictions"]
    todo = cells["metric"].isin(list(BOOTSTRAP_METRICS)) & cells["delta"].notna() & cells["task"].map(single_label).eq(True)
    for index, cell in cells[todo].iterrows():
        mine, base = ok.loc[(cell["init"], cell["backbone"], cell["task"])], ok.loc[(baseline, cell["backbone"], cell["task"])]
        seeds = sorted(set(mine.index) & set(base.index))
        if not seeds or mine[seeds].isna().any() or base[seeds].isna().any():
            continue
        a, b = _predicted(list(mine[seeds])), _predicted(list(base[seeds]))
        if a is not None and b is not None and np.array_equal(a[0], b[0]):
            p_boot[index] = paired_bootstrap(a[0], a[1], b[1], cell["metric"])[1]
    return p_boot


def _marks(cells: pd.DataFrame, directions: dict[str, int]) -> pd.Series:
    better = cells["delta"] * cells["metric"].map(directions).fillna(0) > 0
    significant = cells["p_t"] < ALPHA
    mark = np.where(significant & better, MARKS["better"], np.where(significant, MARKS["worse"], MARKS["same"]))
    return pd.Series(np.where(cells["p_t"].notna(), mark, ""), index=cells.index)


def _first_reported(definition: Definition, reported: set[str]) -> str:
    """The metric that ranks a task: the definition's first one the task has numbers for."""
    return next((m.name for m in definition.metrics if m.name in reported), definition.metrics[0].name)


def _signed_rank_values(cells: pd.DataFrame, definition: Definition, rank_metric: dict[str, str]) -> pd.Series:
    """The ranking metric's mean with 'better' made larger; NaN for cells that are not ranked."""
    sign = cells["metric"].map({m.name: m.sign for m in definition.metrics})
    ranked = (cells["metric"] == cells["task"].map(rank_metric)) & (cells["state"] == "ok")
    return (cells["mean"] * sign).where(ranked)


def _task_ranks(cells: pd.DataFrame, definition: Definition, rank_metric: dict[str, str]) -> pd.Series:
    return _signed_rank_values(cells, definition, rank_metric).groupby(cells["task"]).rank(ascending=False, method="min")


def _overview(cells: pd.DataFrame, states: pd.DataFrame, definition: Definition, rank_metric: dict[str, str]) -> pd.DataFrame:
    """Normalised task score per row: (m − worst) / (best − worst) over the task's ranked rows; mean over tasks."""
    signed = _signed_rank_values(cells, definition, rank_metric)
    ranked = cells.assign(signed=signed).dropna(subset=["signed"])
    by_task = ranked.groupby("task")["signed"]
    best, worst = by_task.transform("max"), by_task.transform("min")
    span = (best - worst).to_numpy()
    ranked["score"] = np.where(span > 0, (ranked["signed"] - worst) / np.where(span > 0, span, 1.0), 1.0)
    scores = ranked.pivot_table(index=ROW, columns="task", values="score")
    table = states[ROW].drop_duplicates().set_index(ROW).join(scores).reindex(columns=list(rank_metric))
    table["tasks_ranked"] = table.notna().sum(axis=1)
    table["score"] = table[list(rank_metric)].mean(axis=1).where(table["tasks_ranked"] == len(rank_metric))
    table["rank"] = table["score"].rank(ascending=False, method="min")
    table = table.reset_index()
    return table.sort_values(["rank", "tasks_ranked", "init", "backbone"], ascending=[True, False, True, True],
                             na_position="last").reset_index(drop=True)


def _default_regime(runs: pd.DataFrame) -> dict[str, str]:
    """Rank fine-tuning on every label where records have it, else the regime with the most records (ties: fine-tuning
    first, then the largest budget)."""
    combos = Counter(zip(runs["mode"], runs["label_budget"]))
    budget_rank = lambda budget: float("inf") if budget == FULL_BUDGET else float(budget)  # noqa: E731
    mode, budget = max(combos, key=lambda c: (c == (DEFAULT_MODE, FULL_BUDGET), combos[c], c[0] == DEFAULT_MODE,
                                               budget_rank(c[1]), c[0]))
    return {"mode": mode, "label_budget": budget}


def build_board(results: Path, definition: Definition | None = None, protocol: str | None = None,
                seeds: tuple[int, ...] | None = None) -> Board:
    """Load every record under `results` and aggregate it for `definition` (default: whatever exists)."""
    runs, entries, cards = load_runs(results)
    if definition is None:
        chosen = protocol or Counter(runs["protocol"]).most_common(1)[0][0]
        subset = runs[runs["protocol"] == chosen]
        names = {c.removeprefix(METRIC_COLUMN) for c in subset if c.startswith(METRIC_COLUMN) and subset[c].notna().any()}
        definition = dataclasses.replace(default_definition(sorted(set(subset["task"])), names, chosen),
                                         **_default_regime(subset))
    elif protocol:
        definition = dataclasses.replace(definition, protocol=protocol)
    if seeds is not None:
        definition = dataclasses.replace(definition, seeds=seeds)
    present = set(runs.loc[runs["protocol"] == definition.protocol, "init"])
    baseline = next((b for b in definition.baseline if b in present), None)
    every_regime = runs[_in_scope(runs, definition, baseline)]
    runs, notes = _select(runs, definition, baseline)
    if baseline is None:
        notes.append(f"no records of the baseline ({' or '.join(definition.baseline)}): nothing is compared")
    if definition.seeds is not None and len(definition.seeds) < 2:
        notes.append("one seed per cell: no standard deviation, confidence interval or paired t-test")

    states, inside = _cell_states(runs, definition.seeds)
    reported = states.loc[states["state"].isin(["ok", "incomplete"]), CELL]
    ok_runs = runs.loc[inside].query("state == 'ok'").merge(reported, on=CELL)
    metrics = _long(ok_runs, definition.metrics, METRIC_COLUMN)
    cells = pd.concat([_summaries(metrics).assign(kind="metric"),
                       _summaries(_long(ok_runs, EFFICIENCY + LEARNING_SPEED, EFFICIENCY_COLUMN)).assign(kind="efficiency")], ignore_index=True)
    if baseline is not None:
        ranked_values = metrics.merge(states.loc[states["state"] == "ok", CELL], on=CELL)
        cells = cells.merge(_paired(ranked_values, baseline), on=CELL + ["metric"], how="left")
    else:
        cells = cells.assign(delta=np.nan, paired_n=np.nan, p_t=np.nan)
    single_label = {task: str(card.get("kind", "")) in SINGLE_LABEL_KINDS for task, card in cards.items()}
    cells["p_bootstrap"] = _bootstrap(cells, runs.loc[inside], baseline, single_label) if baseline is not None else np.nan
    cells["mark"] = _marks(cells, {m.name: m.sign for m in definition.metrics})

    present_tasks = set(runs["task"])
    notes += [f"no records for task {t}" for t in definition.tasks if t not in present_tasks]
    notes += [f"no records of init {init}" + (f": {definition.unavailable[init]}" if init in definition.unavailable else "")
              for init in definition.inits or () if init not in set(runs["init"])]
    rank_metric = {t: _first_reported(definition, set(cells.loc[cells["task"] == t, "metric"]))
                   for t in definition.tasks if t in present_tasks}
    cells = cells.merge(states[CELL + ["state"]], on=CELL)
    cells["task_rank"] = _task_ranks(cells, definition, rank_metric)
    overview = _overview(cells, states, definition, rank_metric)
    kept = set(runs["init"])
    return Board(definition, baseline, runs, states, cells.sort_values(CELL + ["kind", "metric"]).reset_index(drop=True),
                 overview, rank_metric, {t: cards.get(t, {}) for t in rank_metric},
                 {name: entry for name, entry in entries.items() if name in kept}, tuple(notes),
                 regime_table(every_regime, definition, rank_metric, baseline))

"""Leaderboard definitions: which tasks, metrics (with direction), protocol, entries and baseline.

A definition is a small YAML file in `leaderboards/`, checked strictly like a task card so a typo
cannot silently change a ranking. Without one, `default_definition` describes whatever records
exist. The first metric a task reports, in the definition's order, ranks that task.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import MedbenchError
from harness.metric_catalogue import CATALOGUE, DIRECTIONS, RANK_ORDER, MetricSpec, quality_metric
from harness.record import DEFAULT_MODE, FULL_BUDGET
from harness.schema import check_mapping

REPO_LEADERBOARD_DIR = Path(__file__).resolve().parents[2] / "leaderboards"
DEFAULT_BASELINE = ("imagenet", "scratch")


# What a definition made from the records alone shows, in ranking order (the first a task reports ranks it).
DEFAULT_METRICS = tuple(CATALOGUE[name] for name in RANK_ORDER)


@dataclass(frozen=True)
class Definition:
    name: str
    title: str
    description: str
    tasks: tuple[str, ...]
    metrics: tuple[MetricSpec, ...]
    protocol: str
    baseline: tuple[str, ...]  # preference order: the first one with records is the baseline
    inits: tuple[str, ...] | None = None  # None: every init/submission in the results
    seeds: tuple[int, ...] | None = None  # None: the seeds each record's protocol declares
    why: dict[str, str] = field(default_factory=dict)  # task → why it is on this leaderboard
    mode: str = DEFAULT_MODE  # the evaluation regime ranked; other regimes' records feed the label-efficiency page
    label_budget: str = FULL_BUDGET
    image_size: int | None = None  # None: each task at its protocol's size (no --image-size override)
    unavailable: dict[str, str] = field(default_factory=dict)  # init → why it has no records (said on the page)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "description": self.description, "tasks": list(self.tasks),
                "metrics": [{"name": m.name, "direction": m.direction, "label": m.label} for m in self.metrics],
                "protocol": self.protocol, "baseline": list(self.baseline),
                "inits": list(self.inits) if self.inits is not None else None,
                "seeds": list(self.seeds) if self.seeds is not None else None, "why": dict(self.why),
                "mode": self.mode, "label_budget": self.label_budget, "image_size": self.image_size,
                "unavailable": dict(self.unavailable)}


_ALLOWED = {"title", "description", "tasks", "metrics", "protocol", "baseline", "inits", "seeds", "why", "mode", "label_budget",
            "image_size", "unavailable"}
_REQUIRED = {"title", "tasks", "metrics", "protocol"}


def _names(value: Any, where: str, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, (str, int)) for v in value):
        raise MedbenchError(f"{where}: {field} must be a name or a non-empty list of names")
    return tuple(str(v) for v in value)


def _tasks(value: Any, where: str) -> tuple[str, ...]:
    """A list of task names, or `{tagged: TAG}` for every registered task card with that tag."""
    if isinstance(value, dict):
        if set(value) != {"tagged"}:
            raise MedbenchError(f"{where}: tasks must be a list of names or {{tagged: TAG}}")
        from harness.tasks import tasks_tagged

        names = tuple(spec.name for spec in tasks_tagged(str(value["tagged"])))
        if not names:
            raise MedbenchError(f"{where}: no task card is tagged {value['tagged']!r}; see `medbench tasks list`")
        return names
    return _names(value, where, "tasks")


def _metric(raw: Any, where: str) -> MetricSpec:
    """`{name, direction: higher|lower}` or `{name, higher_is_better: true|false}`; known metrics may omit it."""
    if not isinstance(raw, dict) or "name" not in raw or set(raw) - {"name", "direction", "higher_is_better", "label"}:
        raise MedbenchError(f"{where}: each metric is a mapping with name, direction (higher|lower) and optional label")
    known = quality_metric(raw["name"], where)
    name = known.name
    stated = {raw.get("direction")} - {None}
    if "higher_is_better" in raw:
        if not isinstance(raw["higher_is_better"], bool):
            raise MedbenchError(f"{where}: metric {name!r}: higher_is_better must be true or false")
        stated.add("higher" if raw["higher_is_better"] else "lower")
    if len(stated) > 1:
        raise MedbenchError(f"{where}: metric {name!r} gives two different directions")
    direction = stated.pop() if stated else known.direction
    if direction not in DIRECTIONS:
        raise MedbenchError(f"{where}: metric {name!r}: direction must be higher or lower, not {direction!r}")
    if direction != known.direction:
        raise MedbenchError(f"{where}: metric {name!r} is better {known.direction}, not {direction}; fix its direction")
    return dataclasses.replace(known, label=str(raw.get("label") or known.label))  # range and direction: the catalogue's


def _why(value: Any, where: str, field: str = "why", meaning: str = "task names to a sentence on why each task is included") -> dict[str, str]:
    if not isinstance(value, dict):
        raise MedbenchError(f"{where}: {field} must map {meaning}")
    return {str(task): " ".join(str(text).split()) for task, text in value.items()}


def _seeds(value: Any, where: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(s) for s in (value if isinstance(value, list) else [value]))
    except (TypeError, ValueError):
        raise MedbenchError(f"{where}: seeds must be a list of integers") from None


def _image_size(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MedbenchError(f"{where}: image_size must be a positive integer (px), not {value!r}")
    return value


def parse_definition(raw: Any, name: str, where: str) -> Definition:
    check_mapping(raw, where, "leaderboard definition", _ALLOWED, _REQUIRED)
    if not isinstance(raw["metrics"], list) or not raw["metrics"]:
        raise MedbenchError(f"{where}: metrics must be a non-empty list")
    inits = raw.get("inits", "all")
    tasks, why = _tasks(raw["tasks"], where), _why(raw.get("why") or {}, where)
    if set(why) - set(tasks):
        raise MedbenchError(f"{where}: why names task(s) not on the leaderboard: {', '.join(sorted(set(why) - set(tasks)))}")
    unavailable = _why(raw.get("unavailable") or {}, where, "unavailable", "init names to a sentence on why they have no records")
    if inits != "all" and set(unavailable) - set(_names(inits, where, "inits")):
        raise MedbenchError(f"{where}: unavailable names init(s) not in inits: {', '.join(sorted(set(unavailable)))}")
    return Definition(
        name=name, title=str(raw["title"]), description=str(raw.get("description") or "").strip(),
        tasks=tasks, metrics=tuple(_metric(m, where) for m in raw["metrics"]),
        protocol=str(raw["protocol"]), baseline=_names(raw.get("baseline", list(DEFAULT_BASELINE)), where, "baseline"),
        inits=None if inits == "all" else _names(inits, where, "inits"), seeds=_seeds(raw.get("seeds"), where),
        why=why, mode=str(raw.get("mode", DEFAULT_MODE)), label_budget=str(raw.get("label_budget", FULL_BUDGET)),
        image_size=_image_size(raw.get("image_size"), where), unavailable=unavailable,
    )


def load_definition(reference: str) -> Definition:
    """A YAML path, or the name of a definition in the repository's `leaderboards/` folder."""
    path = Path(reference)
    if not path.is_file():
        path = REPO_LEADERBOARD_DIR / f"{reference}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in REPO_LEADERBOARD_DIR.glob("*.yaml"))) or "none"
        raise MedbenchError(f"leaderboard definition {reference!r} not found; pass a YAML path or one of: {shipped}")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MedbenchError(f"{path} is not readable YAML ({str(exc).splitlines()[0]})") from None
    return parse_definition(raw, path.stem, str(path))


def default_definition(tasks: list[str], metric_names: set[str], protocol: str) -> Definition:
    """Everything the records hold under one protocol, with the metrics medbench knows the direction of."""
    metrics = tuple(m for m in DEFAULT_METRICS if m.name in metric_names)
    if not metrics:
        raise MedbenchError("the records carry none of the metrics medbench ranks on; pass --definition naming them")
    return Definition(name="results", title=f"medbench results ({protocol} protocol)",
                      description="Every init source and backbone found in the results folder.",
                      tasks=tuple(sorted(tasks)), metrics=metrics, protocol=protocol, baseline=DEFAULT_BASELINE)

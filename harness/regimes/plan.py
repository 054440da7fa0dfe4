"""A regime applied to one task: the effective protocol, the card whose files are loaded, the record name.

The grid runner asks this module, once per task, what the regime means there, so the record
name, the skip-finished check and the checkpoint all agree on one variant. A size that gives the
same pixels as the protocol's own (or the task's native one) is no override: such a run keeps the
default record name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.data.arrays import ArrayDataset
from harness.errors import MedbenchError
from harness.protocols import Protocol
from harness.regimes import Regime, finetune, frozen  # noqa: F401  (importing them registers the built-in modes)
from harness.regimes.modes import MODES, Mode
from harness.regimes.budget import apply_budget
from harness.regimes.resolution import as_is, size_matched
from harness.results import record_path
from harness.tasks import TaskSpec


@dataclass(frozen=True)
class TaskPlan:
    task: TaskSpec  # the task the records are named after
    data_task: TaskSpec  # the card whose files are loaded: a size-matched MedMNIST+ card, or `task`
    protocol: Protocol  # with the regime's image size
    regime: Regime  # image_size None where it is the default size
    mode: Mode
    image_source: dict[str, Any]

    @property
    def image_size(self) -> int:
        return self.protocol.image_size or self.task.image_size

    def record_path(self, out: Path, init: str, backbone: str, seed: int) -> Path:
        return record_path(out, self.task.name, init, backbone, self.protocol.name, seed, variant=self.regime.tag)

    def train_set(self, train: ArrayDataset, seed: int) -> tuple[ArrayDataset, dict[str, Any]]:
        """The seed's label-budgeted training set (after the protocol's cap) and the record's account of it."""
        return apply_budget(train, self.task.kind, self.regime.label_budget, seed)

    def record_fields(self, details: dict[str, Any]) -> dict[str, Any]:
        return self.regime.record_fields(self.image_size, {"image_source": self.image_source, **details})


def plan_task(task: TaskSpec, protocol: Protocol, regime: Regime = Regime(), data_dir: Path | None = None) -> TaskPlan:
    default_size = protocol.image_size or task.image_size
    size = regime.image_size or default_size
    data_task, source = size_matched(task, size, data_dir) if regime.image_size else (task, as_is(task, size))
    same_as_default = size == default_size and data_task is task  # same pixels as a run without --image-size
    regime = dataclasses.replace(regime, image_size=None if same_as_default else size)
    return TaskPlan(task, data_task, protocol.with_overrides(image_size=regime.image_size), regime, MODES.get(regime.mode),
                    source)


def plan_tasks(tasks: list[TaskSpec], protocol: Protocol, regime: Regime, data_dir: Path | None,
               report: Callable[[str], None]) -> dict[str, TaskPlan]:
    """A plan per task the mode can score; the others are reported and left out (all left out is an error)."""
    mode = MODES.get(regime.mode)
    plans = {}
    for task in tasks:
        if task.kind in mode.kinds:
            plans[task.name] = plan_task(task, protocol, regime, data_dir)
        else:
            report(f"{task.name}: skipped, --mode {regime.mode} scores {'/'.join(mode.kinds)} tasks, not {task.kind}")
    if tasks and not plans:
        raise MedbenchError(f"--mode {regime.mode} cannot score any of the tasks asked for "
                            f"({', '.join(sorted({t.kind for t in tasks}))}); it scores {'/'.join(mode.kinds)} tasks")
    return plans

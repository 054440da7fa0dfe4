"""Evaluation modes: one registered `Mode` per way of scoring an initialization (fine-tune, linear probe, kNN).

A mode is a function from the prepared inputs of one seeded run (model with its weights loaded, splits,
transform) to an `Outcome`, and the task kinds it can score. Kept apart from `harness.regimes.regime` so
that parsing a regime (the CLI, sweeps) does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from harness.data.batches import BatchTransform
from harness.data.prepare import PreparedSplit
from harness.engine import Outcome, SpeedOptions
from harness.protocols import Protocol
from harness.regimes.regime import Regime
from harness.registry import Registry
from harness.tasks import TaskSpec


@dataclass
class CellInputs:
    """Everything a mode needs for one seeded run; `artifact_dir` receives CAMs and test predictions."""

    task: TaskSpec
    seed: int
    protocol: Protocol
    regime: Regime
    model: nn.Module
    transform: BatchTransform
    splits: dict[str, PreparedSplit]
    device: torch.device
    identity: dict[str, Any]  # what frozen features depend on besides weights and pixels
    progress: bool = True
    checkpoint: Path | None = None
    artifact_dir: Path | None = None
    speed: SpeedOptions = field(default_factory=SpeedOptions)


@dataclass
class ModeResult:
    outcome: Outcome
    artifacts: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # what the mode chose (probe penalty, k, …), for the record


@dataclass(frozen=True)
class Mode:
    run: Callable[[CellInputs], ModeResult]
    kinds: tuple[str, ...]  # task kinds it can score
    description: str


MODES: Registry[Mode] = Registry("evaluation mode")  # the built-in modes register on import (harness.regimes.plan)

__all__ = ["MODES", "CellInputs", "Mode", "ModeResult"]

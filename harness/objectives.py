"""What a run optimises and measures, by task kind: loss, evaluator, selection metric, target handling.

The engine's loop is the same for every kind; an objective says how targets are used, so
segmentation masks move with the augmentation while class labels do not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol as TypingProtocol

import torch
from torch import nn

from harness.kinds import TaskKind
from harness.metric_catalogue import lookup
from harness.metrics import ClassificationEvaluator, SegmentationEvaluator
from harness.protocols import Protocol


class Evaluator(TypingProtocol):
    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None: ...
    def compute(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ClassificationObjective:
    kind: TaskKind  # binary | multiclass | multilabel
    num_classes: int
    select_on: str
    dense = False  # targets are labels, untouched by augmentation

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TaskKind(self.kind))  # callers may give the text

    def loss_fn(self) -> nn.Module:
        return nn.BCEWithLogitsLoss() if self.kind.multilabel else nn.CrossEntropyLoss()

    def evaluator(self) -> Evaluator:
        return ClassificationEvaluator(self.kind, self.num_classes)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Sigmoid per label (multilabel) or softmax over classes, as the metrics read the logits."""
        return logits.sigmoid() if self.kind.multilabel else logits.softmax(dim=1)


class _CrossEntropyDice(nn.Module):
    """Pixel cross-entropy plus soft Dice (smp's), the usual pairing for small lesions."""

    def __init__(self) -> None:
        super().__init__()
        from segmentation_models_pytorch.losses import DiceLoss

        self.ce = nn.CrossEntropyLoss()
        self.dice = DiceLoss(mode="multiclass")

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.ce(logits, targets) + self.dice(logits, targets)


@dataclass(frozen=True)
class SegmentationObjective:
    num_classes: int
    select_on: str
    kind = TaskKind.SEGMENTATION
    dense = True  # masks are warped with the images

    def loss_fn(self) -> nn.Module:
        return _CrossEntropyDice()

    def evaluator(self) -> Evaluator:
        return SegmentationEvaluator(self.num_classes)


Objective = ClassificationObjective | SegmentationObjective


def objective_for(kind: TaskKind | str, num_classes: int, protocol: Protocol) -> Objective:
    kind = TaskKind(kind)
    if kind.segmentation:
        return SegmentationObjective(num_classes, protocol.select_on_segmentation)
    return ClassificationObjective(kind, num_classes, protocol.select_on)


def selection_score(metrics: dict[str, Any], select_on: str) -> float:
    """The validation number a model (epoch, probe weight decay) is chosen by, larger = better.

    Falls back to accuracy (segmentation: per-image IoU) where the chosen metric is undefined,
    e.g. AUROC on a single-class validation set; -inf when nothing is defined.
    """
    name, value = select_on, metrics.get(select_on)
    if value is None:
        name = "accuracy" if "accuracy" in metrics else "iou_per_image_mean"
        value = metrics.get(name)
    if value is None:
        return -math.inf
    return value * lookup(name).sign

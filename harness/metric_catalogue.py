"""The metric catalogue: every scalar medbench measures, which way is better, and its display label.

Task cards, leaderboard definitions, model selection and aggregation all look names up here, so a
typo in a metric name is refused where it is written instead of becoming an empty column. Torch-free,
so cards are checked before anything heavy is imported.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from harness.errors import MedbenchError

DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class MetricSpec:
    name: str
    direction: str  # higher | lower: which way is better
    label: str
    low: float = 0.0  # the range a value can take; an interval around a mean is clipped to it
    high: float = float("inf")

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    @property
    def sign(self) -> int:
        """+1 when higher is better: multiply a difference by it to make 'better' positive."""
        return 1 if self.direction == "higher" else -1


# What records carry under `metrics` (quality) — the only names cards and definitions may rank by.
QUALITY = tuple(MetricSpec(*m, high=1.0) for m in (  # fractions and areas under curves: all in [0, 1]
    ("balanced_accuracy", "higher", "Balanced accuracy"),
    ("auroc", "higher", "AUROC"),
    ("accuracy", "higher", "Accuracy"),
    ("weighted_accuracy_support", "higher", "Support-weighted accuracy"),
    ("f1_macro", "higher", "Macro F1"),
    ("ece", "lower", "ECE"),
    ("iou", "higher", "IoU"),
    ("dice", "higher", "Dice"),
    ("iou_per_image_mean", "higher", "IoU (per-image mean)"),
    ("dice_per_image_mean", "higher", "Dice (per-image mean)"),
))

# What records carry under `efficiency`: shown on task and efficiency pages, never ranked.
EFFICIENCY = tuple(MetricSpec(*m) for m in (
    ("infer_images_per_s", "higher", "Inference img/s"),
    ("infer_latency_ms", "lower", "Latency ms (batch 1)"),
    ("train_images_per_s", "higher", "Training img/s"),
    ("params", "lower", "Parameters"),
    ("flops", "lower", "FLOPs / image"),
    ("peak_memory_bytes", "lower", "Peak memory"),
    ("wall_time_s", "lower", "Wall time s"),
))

# How fast a run learned (harness.efficiency.learning_speed): summarised like EFFICIENCY, shown in its own table.
LEARNING_SPEED = tuple(MetricSpec(*m) for m in (
    ("epoch_to_95", "lower", "Epoch to 95 % of final val"),
    ("train_images_to_95", "lower", "Images seen to 95 %"),
    ("train_flops_to_95", "lower", "Training FLOPs to 95 %"),
    ("train_seconds_to_95", "lower", "Training s to 95 %"),
    ("train_flops", "lower", "Training FLOPs (all)"),
))

CATALOGUE: dict[str, MetricSpec] = {m.name: m for m in QUALITY + EFFICIENCY + LEARNING_SPEED}


# Named selections: every list of metric names medbench uses lives here, next to the entries it names.
RANK_ORDER = ("balanced_accuracy", "auroc", "accuracy", "f1_macro", "ece", "iou", "dice")  # leaderboard default
RESULTS_TABLE = ("accuracy", "balanced_accuracy", "auroc")  # `medbench results` columns by default
HEADLINE = ("accuracy", "balanced_accuracy", "auroc", "iou", "dice")  # the one-line report of a finished run
HISTORY = ("accuracy", "auroc", "iou", "dice")  # validation metrics kept per epoch in a record's history


def lookup(name: str) -> MetricSpec:
    """The catalogue entry; a name it does not know (a newer record's figure) is shown as is, higher better, unbounded."""
    return CATALOGUE.get(name) or MetricSpec(name, "higher", name, low=float("-inf"))


def quality_metric(name: object, where: str) -> MetricSpec:
    """The catalogue entry of a rankable metric; an unknown name is an error naming the closest ones."""
    spec = CATALOGUE.get(name) if isinstance(name, str) else None
    if spec is None or spec not in QUALITY:
        names = [m.name for m in QUALITY]
        close = difflib.get_close_matches(str(name), names, n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise MedbenchError(f"{where}: unknown metric {name!r}; {hint}known: {', '.join(names)}")
    return spec

"""Evaluation numbers for a RunRecord: classification and segmentation metrics, JSON-ready.

Measurements only. torchmetrics computes; this module decides which classes count (a class absent
from the targets is reported and left out of a mean, never averaged in as 0) and names each number
so that a record says which definition it holds. Every value is a Python float/int/list or None;
never NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torchmetrics.functional.classification import (
    binary_auroc,
    multiclass_accuracy,
    multiclass_calibration_error,
    multiclass_f1_score,
    multiclass_recall,
    multiclass_stat_scores,
    multilabel_accuracy,
    multilabel_f1_score,
    multilabel_stat_scores,
)

from harness.errors import MedbenchError
from harness.kinds import TaskKind

ECE_BINS = 15
IOU_DEFINITION = "dataset-level (pixels pooled over the split)"

# ---------------------------------------------------------------------------------------------
# classification


def classification_metrics(
    kind: str, logits: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> dict[str, Any]:
    """Classification metrics for one split.

    kind "binary" | "multiclass": logits (N, C) read through softmax (binary models have C = 2),
    targets (N,) class indices. kind "multilabel": logits (N, L) read through sigmoid, targets (N, L)
    in {0, 1}; each label is a binary problem at threshold 0.5 and a metric is its mean over labels.

    - accuracy: plain (micro) accuracy, MedMNIST's ACC. Multilabel: mean over labels of per-label
      accuracy (not subset accuracy).
    - balanced_accuracy: mean per-class recall over classes present in the targets (sklearn's
      balanced_accuracy_score; torchmetrics MulticlassAccuracy(average="macro") when every predicted
      class is present). This is the only sensible reading of the CPMID paper's "weighted accuracy":
      recall weighted by support is plain accuracy. Multilabel: mean over labels of the label's
      balanced accuracy (mean of sensitivity and specificity).
    - weighted_accuracy_support: support-weighted recall; equals accuracy, reported under its own
      name so nobody takes it for balanced accuracy.
    - auroc: binary: of the positive-class probability; multiclass: macro one-vs-rest; multilabel:
      mean over labels. Only classes (labels) with both positives and negatives count; the others
      are listed in auroc_absent_classes and warned about. None when fewer than 2 classes are present
      (multilabel: when no label has both).
    - f1_macro: sklearn's f1_score(average="macro"); multilabel: mean of per-label positive F1.
    - ece: expected calibration error, 15 equal-width bins, top-label confidence (binary too, so a
      2-output model is judged like any other). Multilabel: mean over labels of each label's ECE.
    - per_class_recall: recall of each class (multilabel: sensitivity of each label); None for a
      class absent from the targets.
    """
    compute = _classification_kind(kind)
    logits, targets = _checked_classification_inputs(kind, logits, targets, num_classes)
    return compute(logits, targets, num_classes)


def _single_label_metrics(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Binary (as 2 classes) and multiclass: one softmax over C outputs, one true class per sample."""
    probs = logits.softmax(dim=1)
    present = torch.bincount(targets, minlength=num_classes) > 0
    recall = multiclass_recall(probs, targets, num_classes, average=None, validate_args=False)
    per_class_recall = [_float(r) if p else None for r, p in zip(recall, present)]
    auroc, absent = _auroc(probs, targets, present, num_classes)
    return {
        "accuracy": _float(multiclass_accuracy(probs, targets, num_classes, average="micro", validate_args=False)),
        "balanced_accuracy": _mean_defined(per_class_recall),
        "weighted_accuracy_support": _float(multiclass_accuracy(probs, targets, num_classes, average="weighted", validate_args=False)),
        "auroc": auroc,
        "auroc_absent_classes": absent,
        "f1_macro": _float(multiclass_f1_score(probs, targets, num_classes, average="macro", validate_args=False)),
        "ece": _float(multiclass_calibration_error(probs, targets, num_classes, n_bins=ECE_BINS, norm="l1", validate_args=False)),
        "per_class_recall": per_class_recall,
    }


def _auroc(
    probs: torch.Tensor, targets: torch.Tensor, present: torch.Tensor, num_classes: int
) -> tuple[float | None, list[int]]:
    """Binary: AUROC of class 1; multiclass: one-vs-rest mean over present classes only."""
    absent = [c for c in range(num_classes) if not present[c]]
    _warn_absent(absent)
    if int(present.sum()) < 2:
        return None, absent
    if num_classes == 2:
        return _float(binary_auroc(probs[:, 1], targets, validate_args=False)), absent
    per_class = [_float(binary_auroc(probs[:, c], (targets == c).long(), validate_args=False)) for c in range(num_classes) if present[c]]
    return _mean_defined(per_class), absent


def _multilabel_metrics(logits: torch.Tensor, targets: torch.Tensor, num_labels: int) -> dict[str, Any]:
    """Multilabel: each label a binary decision at probability 0.5, averaged over labels."""
    probs = logits.sigmoid()
    tp, fp, tn, fn, _ = multilabel_stat_scores(probs, targets, num_labels, average=None, validate_args=False).T
    sensitivity = [_ratio(a, a + b) for a, b in zip(tp, fn)]
    specificity = [_ratio(a, a + b) for a, b in zip(tn, fp)]
    label_balanced = [_mean_defined([se, sp]) for se, sp in zip(sensitivity, specificity)]
    label_support_weighted = (tp + tn).double() / targets.shape[0]
    auroc, absent = _multilabel_auroc(probs, targets)
    return {
        "accuracy": _float(multilabel_accuracy(probs, targets, num_labels, average="macro", validate_args=False)),
        "balanced_accuracy": _mean_defined(label_balanced),
        "weighted_accuracy_support": _float(label_support_weighted.mean()),
        "auroc": auroc,
        "auroc_absent_classes": absent,
        "f1_macro": _float(multilabel_f1_score(probs, targets, num_labels, average="macro", validate_args=False)),
        "ece": _mean_defined([_label_ece(probs[:, j], targets[:, j]) for j in range(num_labels)]),
        "per_class_recall": sensitivity,
    }


def _multilabel_auroc(probs: torch.Tensor, targets: torch.Tensor) -> tuple[float | None, list[int]]:
    """Mean AUROC over labels that have both positives and negatives; the rest are reported."""
    positives = targets.sum(dim=0)
    defined = (positives > 0) & (positives < targets.shape[0])
    absent = [j for j in range(targets.shape[1]) if not defined[j]]
    _warn_absent(absent)
    per_label = [_float(binary_auroc(probs[:, j], targets[:, j], validate_args=False)) for j in range(targets.shape[1]) if defined[j]]
    return _mean_defined(per_label), absent


def _label_ece(prob: torch.Tensor, target: torch.Tensor) -> float | None:
    """Top-label ECE of one sigmoid output, read as the 2-class distribution (1 - p, p)."""
    two_class = torch.stack([1 - prob, prob], dim=1)
    return _float(multiclass_calibration_error(two_class, target, 2, n_bins=ECE_BINS, norm="l1", validate_args=False))


def _warn_absent(absent: list[int]) -> None:
    if absent:
        warnings.warn(
            f"AUROC: classes {absent} have no positive (or, multilabel, no negative) targets in this split; "
            "they are left out of the AUROC mean (torchmetrics would average them in as 0) and listed "
            "in auroc_absent_classes",
            UserWarning,
            stacklevel=5,  # the caller of classification_metrics
        )


_CLASSIFICATION_KINDS: dict[TaskKind, Callable[[torch.Tensor, torch.Tensor, int], dict[str, Any]]] = {
    TaskKind.BINARY: _single_label_metrics,
    TaskKind.MULTICLASS: _single_label_metrics,
    TaskKind.MULTILABEL: _multilabel_metrics,
}


def _classification_kind(kind: str) -> Callable[[torch.Tensor, torch.Tensor, int], dict[str, Any]]:
    try:
        return _CLASSIFICATION_KINDS[kind]
    except KeyError:
        raise MedbenchError(
            f"unknown classification kind {kind!r}; expected one of {sorted(_CLASSIFICATION_KINDS)}"
        ) from None


def _checked_classification_inputs(
    kind: str, logits: torch.Tensor, targets: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """CPU float32 logits (N, C) and int64 targets, with the shapes `kind` needs, or a clear error."""
    kind = TaskKind(kind)
    logits = logits.detach().to("cpu", torch.float32)
    targets = targets.detach().to("cpu", torch.long)
    if not kind.multilabel and targets.ndim == 2 and targets.shape[1] == 1:
        targets = targets[:, 0]  # MedMNIST stores single labels as (N, 1)
    expected_targets = (logits.shape[0], num_classes) if kind.multilabel else (logits.shape[0],)
    if logits.ndim != 2 or logits.shape[1] != num_classes or tuple(targets.shape) != expected_targets:
        raise MedbenchError(
            f"{kind} metrics need logits (N, {num_classes}) and targets {_shape_text(expected_targets)}; "
            f"got logits {tuple(logits.shape)} and targets {tuple(targets.shape)}"
        )
    if kind is TaskKind.BINARY and num_classes != 2:
        raise MedbenchError(f"binary models have 2 outputs (softmax); got num_classes={num_classes}")
    if logits.shape[0] == 0:
        raise MedbenchError("cannot compute metrics on an empty split (0 samples)")
    upper = 2 if kind.multilabel else num_classes
    if targets.min() < 0 or targets.max() >= upper:
        raise MedbenchError(f"{kind} targets must lie in [0, {upper - 1}]; got [{targets.min()}, {targets.max()}]")
    return logits, targets


def _shape_text(shape: tuple[int, ...]) -> str:
    return "(N, " + ", ".join(str(s) for s in shape[1:]) + ")" if len(shape) > 1 else "(N,)"


# ---------------------------------------------------------------------------------------------
# segmentation


def segmentation_metrics(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """IoU and Dice of (N, H, W) class maps, both dataset-level and per-image.

    Foreground = classes 1..C-1 (binary: class 1 only); background is never averaged in.
    - iou, dice: dataset-level: confusion pooled over every pixel of the split, then the mean over
      foreground classes that occur in the targets or predictions.
    - iou_per_image_mean, dice_per_image_mean: per image, the mean over foreground classes occurring
      in that image's target or prediction (1.0 when neither has any foreground), then the mean over
      images. The two families differ a lot on small structures; iou_definition says which is `iou`.
    - iou_per_class, dice_per_class: dataset-level, every class including background; None for a
      class absent from both targets and predictions.
    """
    return _segmentation_from_stats(_per_image_stats(preds, targets, num_classes))


def _per_image_stats(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, C, 3) counts of true positives, false positives and false negatives per image and class."""
    if preds.ndim != 3 or preds.shape != targets.shape:
        raise MedbenchError(
            f"segmentation metrics need preds and targets of one shape (N, H, W); "
            f"got {tuple(preds.shape)} and {tuple(targets.shape)}"
        )
    preds, targets = preds.detach().long(), targets.detach().to(preds.device, torch.long)
    stats = multiclass_stat_scores(preds, targets, num_classes, average=None, multidim_average="samplewise")
    return stats[..., [0, 1, 3]]


def _segmentation_from_stats(stats: torch.Tensor) -> dict[str, Any]:
    """Dataset-level and per-image IoU/Dice from per-image (tp, fp, fn) counts."""
    iou_class, dice_class = _iou_dice(stats.sum(dim=0))
    iou_image, dice_image = _iou_dice(stats)
    return {
        "iou": _float(_foreground_mean(iou_class)),
        "dice": _float(_foreground_mean(dice_class)),
        "iou_per_image_mean": _float(_foreground_mean(iou_image, empty=1.0).mean()),
        "dice_per_image_mean": _float(_foreground_mean(dice_image, empty=1.0).mean()),
        "iou_per_class": [_float(v) for v in iou_class],
        "dice_per_class": [_float(v) for v in dice_class],
        "iou_definition": IOU_DEFINITION,
    }


def _iou_dice(stats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """IoU and Dice from (..., C, 3) counts; NaN where a class is in neither target nor prediction."""
    tp, fp, fn = stats.double().unbind(dim=-1)
    union = tp + fp + fn
    nan = torch.full_like(tp, math.nan)
    iou = torch.where(union > 0, tp / union, nan)
    dice = torch.where(union > 0, 2 * tp / (union + tp), nan)
    return iou, dice


def _foreground_mean(per_class: torch.Tensor, empty: float = math.nan) -> torch.Tensor:
    """Mean over classes 1.. ignoring NaN (absent) classes; `empty` where all are absent."""
    foreground = per_class[..., 1:]
    mean = foreground.nanmean(dim=-1)
    return torch.where(foreground.isnan().all(dim=-1), torch.full_like(mean, empty), mean)


# ---------------------------------------------------------------------------------------------
# evaluators: batch-wise accumulation for the engine


class ClassificationEvaluator:
    """Collects logits and targets over batches and computes classification_metrics once.

    Eval splits here are small, so it keeps everything and computes exact AUROC. Batches stay on
    their device until `compute`: a copy to the host per batch would stall the GPU every batch.
    """

    def __init__(self, kind: str, num_classes: int) -> None:
        _classification_kind(kind)  # fail at construction, not after a whole eval pass
        self.kind = kind
        self.num_classes = num_classes
        self._logits: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        self._logits.append(logits.detach().float())
        self._targets.append(targets.detach())

    def compute(self) -> dict[str, Any]:
        if not self._logits:
            raise MedbenchError("ClassificationEvaluator.compute() called before any update()")
        return classification_metrics(self.kind, torch.cat(self._logits).cpu(), torch.cat(self._targets).cpu(),
                                      self.num_classes)


class SegmentationEvaluator:
    """Accumulates per-image (tp, fp, fn) counts per class; never holds the masks themselves."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self._stats: list[torch.Tensor] = []

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        """logits (N, C, H, W), targets (N, H, W); the argmax is taken on the logits' device."""
        if logits.ndim != 4 or logits.shape[1] != self.num_classes:
            raise MedbenchError(
                f"segmentation logits must be (N, {self.num_classes}, H, W); got {tuple(logits.shape)}"
            )
        self._stats.append(_per_image_stats(logits.detach().argmax(dim=1), targets.detach(), self.num_classes))

    def compute(self) -> dict[str, Any]:
        if not self._stats:
            raise MedbenchError("SegmentationEvaluator.compute() called before any update()")
        return _segmentation_from_stats(torch.cat(self._stats).cpu())


# ---------------------------------------------------------------------------------------------
# JSON-ready numbers


def _float(value: torch.Tensor | float) -> float | None:
    """A Python float, or None for NaN (undefined), so records stay valid JSON."""
    number = float(value)
    return None if math.isnan(number) else number


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> float | None:
    return float(numerator) / float(denominator) if denominator > 0 else None


def _mean_defined(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None

"""harness.metrics checked against scikit-learn (and small numpy references) on random inputs."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    jaccard_score,
    recall_score,
    roc_auc_score,
)

from harness.errors import MedbenchError
from harness.metric_catalogue import CATALOGUE, HEADLINE, HISTORY, RANK_ORDER, RESULTS_TABLE
from harness.metrics import (
    ClassificationEvaluator,
    SegmentationEvaluator,
    classification_metrics,
    segmentation_metrics,
)

SEEDS = [0, 1, 2]
N = 60


def _logits(seed: int, n: int, c: int) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed)) * 2


def _labels(seed: int, n: int, c: int) -> torch.Tensor:
    return torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed + 1000))


def _approx(value: float | None) -> object:
    return pytest.approx(value, abs=1e-5)


def _ece_reference(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE: sum over equal-width bins of |accuracy - confidence| weighted by bin share."""
    index = np.clip(np.ceil(confidence * bins) - 1, 0, bins - 1).astype(int)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return total


def _check_single_label(metrics: dict, y: np.ndarray, proba: np.ndarray, auroc: float) -> None:
    pred = proba.argmax(1)
    assert metrics["accuracy"] == _approx(accuracy_score(y, pred))
    assert metrics["weighted_accuracy_support"] == _approx(accuracy_score(y, pred))
    assert metrics["balanced_accuracy"] == _approx(balanced_accuracy_score(y, pred))
    assert metrics["f1_macro"] == _approx(f1_score(y, pred, average="macro"))
    labels = list(range(proba.shape[1]))
    assert metrics["per_class_recall"] == [_approx(r) for r in recall_score(y, pred, labels=labels, average=None)]
    assert metrics["auroc"] == _approx(auroc)
    assert metrics["auroc_absent_classes"] == []
    assert metrics["ece"] == _approx(_ece_reference(proba.max(1), pred == y))


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_matches_sklearn(seed: int) -> None:
    logits, targets = _logits(seed, N, 2), _labels(seed, N, 2)
    proba = logits.softmax(1).numpy().astype(np.float64)
    metrics = classification_metrics("binary", logits, targets, 2)
    _check_single_label(metrics, targets.numpy(), proba, roc_auc_score(targets.numpy(), proba[:, 1]))


@pytest.mark.parametrize("seed", SEEDS)
def test_multiclass_matches_sklearn(seed: int) -> None:
    logits, targets = _logits(seed, N, 4), _labels(seed, N, 4)
    proba = logits.softmax(1).numpy().astype(np.float64)
    proba /= proba.sum(1, keepdims=True)
    metrics = classification_metrics("multiclass", logits, targets, 4)
    auroc = roc_auc_score(targets.numpy(), proba, multi_class="ovr", average="macro")
    _check_single_label(metrics, targets.numpy(), proba, auroc)


@pytest.mark.parametrize("seed", SEEDS)
def test_multilabel_matches_sklearn(seed: int) -> None:
    logits = _logits(seed, N, 5)
    targets = torch.randint(0, 2, (N, 5), generator=torch.Generator().manual_seed(seed + 7))
    y, proba = targets.numpy(), torch.sigmoid(logits).numpy().astype(np.float64)
    pred = (proba >= 0.5).astype(int)
    metrics = classification_metrics("multilabel", logits, targets, 5)
    per_label = range(5)
    assert metrics["accuracy"] == _approx(np.mean([accuracy_score(y[:, j], pred[:, j]) for j in per_label]))
    assert metrics["weighted_accuracy_support"] == _approx(metrics["accuracy"])
    assert metrics["balanced_accuracy"] == _approx(
        np.mean([balanced_accuracy_score(y[:, j], pred[:, j]) for j in per_label])
    )
    assert metrics["auroc"] == _approx(roc_auc_score(y, proba, average="macro"))
    assert metrics["f1_macro"] == _approx(f1_score(y, pred, average="macro"))
    assert metrics["per_class_recall"] == [_approx(r) for r in recall_score(y, pred, average=None)]
    ece = np.mean([_ece_reference(np.maximum(proba[:, j], 1 - proba[:, j]), pred[:, j] == y[:, j]) for j in per_label])
    assert metrics["ece"] == _approx(ece)


def test_absent_class_is_warned_and_left_out_of_auroc() -> None:
    logits = _logits(3, N, 4)
    targets = torch.tensor([0, 1, 3])[_labels(3, N, 3)]  # class 2 never occurs
    y, proba = targets.numpy(), logits.softmax(1).numpy().astype(np.float64)
    with pytest.warns(UserWarning, match=r"classes \[2\]"):
        metrics = classification_metrics("multiclass", logits, targets, 4)
    present_auroc = np.mean([roc_auc_score(y == c, proba[:, c]) for c in (0, 1, 3)])
    assert metrics["auroc"] == _approx(present_auroc)
    assert metrics["auroc_absent_classes"] == [2]
    assert metrics["per_class_recall"][2] is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that predictions contain a class not in y_true
        assert metrics["balanced_accuracy"] == _approx(balanced_accuracy_score(y, proba.argmax(1)))


def test_multilabel_label_without_negatives_is_left_out() -> None:
    logits = _logits(4, N, 3)
    targets = torch.randint(0, 2, (N, 3), generator=torch.Generator().manual_seed(4))
    targets[:, 1] = 1
    with pytest.warns(UserWarning, match=r"classes \[1\]"):
        metrics = classification_metrics("multilabel", logits, targets, 3)
    proba = torch.sigmoid(logits).numpy()
    expected = np.mean([roc_auc_score(targets[:, j].numpy(), proba[:, j]) for j in (0, 2)])
    assert metrics["auroc"] == _approx(expected)
    assert metrics["auroc_absent_classes"] == [1]


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_single_present_class_gives_none_not_nan(kind: str) -> None:
    classes = 2 if kind == "binary" else 3
    logits = _logits(5, 8, classes)
    with pytest.warns(UserWarning):
        metrics = classification_metrics(kind, logits, torch.zeros(8, dtype=torch.long), classes)
    assert metrics["auroc"] is None
    assert metrics["auroc_absent_classes"] == list(range(1, classes))
    json.dumps(metrics, allow_nan=False)


def test_medmnist_style_targets_and_bad_inputs() -> None:
    logits, targets = _logits(6, 10, 3), _labels(6, 10, 3)
    assert classification_metrics("multiclass", logits, targets[:, None], 3) == classification_metrics(
        "multiclass", logits, targets, 3
    )
    with pytest.raises(MedbenchError, match="unknown classification kind"):
        classification_metrics("ordinal", logits, targets, 3)
    with pytest.raises(MedbenchError, match=r"logits \(N, 4\)"):
        classification_metrics("multiclass", logits, targets, 4)
    with pytest.raises(MedbenchError, match="must lie in"):
        classification_metrics("multiclass", logits, targets + 3, 3)


def test_evaluator_in_batches_equals_function() -> None:
    logits, targets = _logits(7, N, 4), _labels(7, N, 4)
    evaluator = ClassificationEvaluator("multiclass", 4)
    for part in (slice(0, 25), slice(25, 50), slice(50, N)):
        evaluator.update(logits[part], targets[part])
    assert evaluator.compute() == classification_metrics("multiclass", logits, targets, 4)


# ---------------------------------------------------------------------------------------------
# segmentation


def _masks(seed: int, n: int, classes: int, side: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    preds = torch.randint(0, classes, (n, side, side), generator=generator)
    targets = torch.randint(0, classes, (n, side, side), generator=generator)
    return preds, targets


def _per_image_reference(preds: np.ndarray, targets: np.ndarray, classes: int) -> tuple[float, float]:
    """Mean over images of the mean foreground IoU/Dice over classes seen in that image (1.0 if none)."""
    ious, dices = [], []
    for p, t in zip(preds, targets):
        image_iou, image_dice = [], []
        for c in range(1, classes):
            inter = np.sum((p == c) & (t == c))
            union = np.sum((p == c) | (t == c))
            if union:
                image_iou.append(inter / union)
                image_dice.append(2 * inter / (np.sum(p == c) + np.sum(t == c)))
        ious.append(np.mean(image_iou) if image_iou else 1.0)
        dices.append(np.mean(image_dice) if image_dice else 1.0)
    return float(np.mean(ious)), float(np.mean(dices))


@pytest.mark.parametrize(("seed", "classes"), [(0, 2), (1, 2), (2, 3), (3, 4)])
def test_segmentation_matches_sklearn(seed: int, classes: int) -> None:
    preds, targets = _masks(seed, 4, classes)
    preds[0], targets[0] = 0, 0  # an image with empty target and prediction counts as 1.0 per image
    metrics = segmentation_metrics(preds, targets, classes)
    t, p = targets.numpy().ravel(), preds.numpy().ravel()
    labels = list(range(classes))
    iou_class = jaccard_score(t, p, labels=labels, average=None)
    dice_class = f1_score(t, p, labels=labels, average=None)
    assert metrics["iou_per_class"] == [_approx(v) for v in iou_class]
    assert metrics["dice_per_class"] == [_approx(v) for v in dice_class]
    assert metrics["iou"] == _approx(iou_class[1:].mean())
    assert metrics["dice"] == _approx(dice_class[1:].mean())
    iou_image, dice_image = _per_image_reference(preds.numpy(), targets.numpy(), classes)
    assert metrics["iou_per_image_mean"] == _approx(iou_image)
    assert metrics["dice_per_image_mean"] == _approx(dice_image)
    assert metrics["iou_definition"] == "dataset-level (pixels pooled over the split)"


def test_segmentation_all_background_is_none_not_nan() -> None:
    empty = torch.zeros(2, 4, 4, dtype=torch.long)
    metrics = segmentation_metrics(empty, empty, 2)
    assert metrics["iou"] is None and metrics["dice"] is None
    assert metrics["iou_per_image_mean"] == 1.0
    assert metrics["iou_per_class"] == [1.0, None]
    json.dumps(metrics, allow_nan=False)


def test_segmentation_evaluator_in_batches_equals_function() -> None:
    generator = torch.Generator().manual_seed(9)
    logits = torch.randn(5, 3, 8, 8, generator=generator)
    targets = torch.randint(0, 3, (5, 8, 8), generator=generator)
    evaluator = SegmentationEvaluator(3)
    evaluator.update(logits[:2], targets[:2])
    evaluator.update(logits[2:], targets[2:])
    assert evaluator.compute() == segmentation_metrics(logits.argmax(1), targets, 3)


def test_every_ranked_scalar_has_a_direction() -> None:
    logits, targets = _logits(8, N, 3), _labels(8, N, 3)
    classification = classification_metrics("multiclass", logits, targets, 3)
    segmentation = segmentation_metrics(*_masks(8, 2, 3), 3)
    scalars = {k for k, v in {**classification, **segmentation}.items() if isinstance(v, float)}
    assert scalars <= set(CATALOGUE)
    assert CATALOGUE["ece"].higher_is_better is False
    named = RANK_ORDER + RESULTS_TABLE + HEADLINE + HISTORY  # every list of metric names the code uses
    assert set(named) <= set(CATALOGUE)
    assert all(not math.isnan(v) for v in classification.values() if isinstance(v, float))

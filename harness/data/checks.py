"""What loaded data must agree with in the card: label type, range and width; split sizes.

Every loader's labels pass through `card_labels`, so float labels are never truncated and an N×3
label array on a binary card is refused instead of read by its first column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from harness.data.arrays import SPLITS, TaskData
from harness.errors import MedbenchError

if TYPE_CHECKING:
    from harness.tasks import TaskSpec


def card_labels(labels: np.ndarray, spec: "TaskSpec", where: str) -> np.ndarray:
    """(N,) int64 class ids, or (N, L) uint8 0/1 for a multilabel card, from labels shaped (N,), (N, 1) or (N, L)."""
    if labels.dtype.kind not in "buif":
        raise MedbenchError(f"{where}: labels are {labels.dtype}, not numbers; store class ids as integers")
    if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
        raise MedbenchError(f"{where}: labels are {labels.dtype} with fractional or non-finite values; "
                            "store class ids as integers (they would otherwise be truncated)")
    width = int(np.prod(labels.shape[1:], dtype=np.int64)) if labels.ndim > 1 else 1
    labels = labels.reshape(len(labels), width)
    if spec.kind.multilabel:
        if width != spec.num_classes:
            raise MedbenchError(f"{where}: labels have {width} column(s) but the card names {spec.num_classes} labels")
        if len(labels) and not np.isin(labels, (0, 1)).all():
            raise MedbenchError(f"{where}: multilabel labels must be 0 or 1")
        return labels.astype(np.uint8)
    if width != 1:
        raise MedbenchError(f"{where}: labels have {width} columns but a {spec.kind} card needs one class id per image")
    targets = labels[:, 0]
    if len(targets) and (targets.min() < 0 or targets.max() >= spec.num_classes):
        raise MedbenchError(f"{where}: labels outside 0..{spec.num_classes - 1} (the card names {spec.num_classes} "
                            f"classes; found {targets.min():g}..{targets.max():g})")
    return targets.astype(np.int64)


def check_not_empty(spec: "TaskSpec", data: TaskData) -> None:
    """A split without images cannot train, select or test: a run refuses it rather than recording `ok`.
    (Other readers of a task's data, e.g. the CPMID leakage check, may use a card with only some splits.)"""
    empty = [split for split in SPLITS if len(data.split(split)) == 0]
    if empty:
        raise MedbenchError(f"task {spec.name}: the {' and '.join(empty)} split(s) hold no images; "
                            "check the data files or the card's source")


def split_size_warning(spec: "TaskSpec", data: TaskData) -> str | None:
    """A stated warning when the data's split sizes differ from the card's (e.g. a subset of the dataset)."""
    found = {split: len(data.split(split)) for split in SPLITS}
    if found == spec.splits:
        return None
    text = lambda sizes: "/".join(str(sizes[s]) for s in SPLITS)  # noqa: E731
    return (f"warning: {spec.name}: the data hold {text(found)} train/val/test images but the card says "
            f"{text(spec.splits)}; results are for these data (fix the card if they are the whole dataset)")

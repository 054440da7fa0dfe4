"""Label budgets: a seeded, class-balanced subset of the training split.

The subset is a function of the labels, the seed and the budget only, never of the init source or
backbone, so every init is scored on the same few images. Each class has its own seeded order and
a budget takes the first N of it, so at one seed a smaller budget is a subset of a larger one.

- binary / multiclass: N images of every class (all of a class that has fewer).
- multilabel: greedily, rarest label first, images are added in one seeded order until every
  label has at least N positive images (or all it has); images with no positive label count as
  one more class and get N too. Counts can exceed N because an image carries several labels.
- segmentation: N training images (a mask has no single class).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from harness.data.arrays import ArrayDataset
from harness.kinds import TaskKind


def _per_class(targets: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    picked = [np.random.default_rng([seed, int(c)]).permutation(np.flatnonzero(targets == c))[:per_class]
              for c in np.unique(targets)]
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


def _multilabel(targets: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    labels = np.column_stack([targets.astype(bool), ~targets.astype(bool).any(axis=1)])  # last: "no label"
    order = np.random.default_rng(seed).permutation(len(labels))
    chosen = np.zeros(len(labels), dtype=bool)
    for label in np.argsort(labels.sum(axis=0), kind="stable"):
        short = per_class - int(labels[chosen, label].sum())
        if short > 0:
            candidates = order[labels[order, label] & ~chosen[order]]
            chosen[candidates[:short]] = True
    return np.flatnonzero(chosen)


def _images(targets: np.ndarray, count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(len(targets))[:count]


SELECTORS = {TaskKind.BINARY: _per_class, TaskKind.MULTICLASS: _per_class, TaskKind.MULTILABEL: _multilabel,
             TaskKind.SEGMENTATION: _images}


def budget_index(targets: np.ndarray, kind: TaskKind | str, per_class: int, seed: int) -> np.ndarray:
    """Sorted row indices of the budgeted subset (see the module docstring for each task kind)."""
    return np.sort(SELECTORS[TaskKind(kind)](targets, per_class, seed))


def apply_budget(train: ArrayDataset, kind: TaskKind | str, per_class: int | None, seed: int) -> tuple[ArrayDataset, dict[str, Any]]:
    """The budgeted training set and what a record says about it (size, per-class counts, a checksum of the rows)."""
    if per_class is None:
        return train, {"train_images": len(train)}
    index = budget_index(train.targets, kind, per_class, seed)
    subset = train.subset(index)
    info: dict[str, Any] = {"train_images": len(subset), "train_images_before_budget": len(train),
                            "subset_sha256": hashlib.sha256(index.astype(np.int64).tobytes()).hexdigest()}
    if TaskKind(kind).multilabel:
        info["positives_per_label"] = subset.targets.astype(bool).sum(axis=0).tolist()
    elif TaskKind(kind).single_label:
        info["images_per_class"] = np.bincount(subset.targets, minlength=int(train.targets.max(initial=0)) + 1).tolist()
    return subset, info

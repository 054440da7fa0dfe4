"""In-memory datasets: uint8 pixels plus targets, the one shape every loader produces.

Images stay uint8 (N, H, W, C) until a batch is drawn, so a dataset costs one byte per pixel and
augmentation runs on whole batches as tensor ops.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from harness.errors import MedbenchError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ArrayDataset:
    """images: (N, H, W, C) uint8. targets: (N,) int64 class ids, (N, L) 0/1 for multilabel,
    or (N, H, W) uint8 class-index masks for segmentation. masks: optional (N, H, W) uint8 lesion
    masks of a classification set (used to score class activation maps)."""

    images: np.ndarray
    targets: np.ndarray
    masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise MedbenchError(
                f"images must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}"
            )
        n = len(self.images)
        if len(self.targets) != n:
            raise MedbenchError(f"{n} images but {len(self.targets)} labels: the two must have the same length")
        if self.masks is not None and self.masks.shape != self.images.shape[:3]:
            raise MedbenchError(f"masks {self.masks.shape} do not match images {self.images.shape[:3]}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    def subset(self, index: np.ndarray) -> "ArrayDataset":
        masks = None if self.masks is None else self.masks[index]
        return ArrayDataset(self.images[index], self.targets[index], masks)


@dataclass(frozen=True)
class TaskData:
    """The three splits of a task, and a checksum of exactly the pixels and labels used."""

    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset

    def split(self, name: str) -> ArrayDataset:
        return getattr(self, name)

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in SPLITS:
            ds = self.split(name)
            for array in (ds.images, ds.targets):
                digest.update(f"{name}:{array.dtype}:{array.shape}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

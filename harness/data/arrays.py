"""Datasets: uint8 pixels plus targets, the one shape every loader produces.

Images stay uint8 (N, H, W, C) until a batch is drawn, so a dataset costs one byte per pixel and
augmentation runs on whole batches as tensor ops. Pixels are either in memory (an ndarray) or in the
on-disk pixel store (`StoredRows`, read by rows): taking a subset of stored pixels reads nothing, so
a protocol's cap chooses its images before any pixels are read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from harness.data.rows import StoredRows, chunks_of, take_rows
from harness.errors import MedbenchError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ArrayDataset:
    """images: (N, H, W, C) uint8. targets: (N,) int64 class ids, (N, L) 0/1 for multilabel,
    or (N, H, W) uint8 class-index masks for segmentation. masks: optional (N, H, W) uint8 lesion
    masks of a classification set (used to score class activation maps)."""

    images: np.ndarray | StoredRows
    targets: np.ndarray | StoredRows  # stored: segmentation masks of stored images
    masks: np.ndarray | StoredRows | None = None

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

    @property
    def stored(self) -> bool:
        return isinstance(self.images, StoredRows)

    def subset(self, index: np.ndarray) -> "ArrayDataset":
        """The rows at `index`; stored pixels stay on disk (nothing is read)."""
        masks = None if self.masks is None else take_rows(self.masks, index)
        return ArrayDataset(take_rows(self.images, index), take_rows(self.targets, index), masks)

    def in_memory(self) -> "ArrayDataset":
        """The same rows with every array read into memory."""
        masks = None if self.masks is None else np.asarray(self.masks)
        return ArrayDataset(np.asarray(self.images), np.asarray(self.targets), masks)


@dataclass(frozen=True)
class TaskData:
    """The three splits of a task, and a checksum of exactly the pixels and labels used."""

    train: ArrayDataset
    val: ArrayDataset
    test: ArrayDataset
    known_sha256: str | None = None  # given by a loader that keeps the checksum of stored pixels

    def split(self, name: str) -> ArrayDataset:
        return getattr(self, name)

    @property
    def stored(self) -> bool:
        return any(self.split(name).stored for name in SPLITS)

    @cached_property
    def sha256(self) -> str:
        """Streamed in chunks, so stored pixels are hashed with bounded memory."""
        if self.known_sha256 is not None:
            return self.known_sha256
        digest = hashlib.sha256()
        for name in SPLITS:
            ds = self.split(name)
            for array in (ds.images, ds.targets):
                digest.update(f"{name}:{array.dtype}:{tuple(array.shape)}".encode())
                for _, chunk in chunks_of(array):
                    digest.update(np.ascontiguousarray(chunk).data)
        return digest.hexdigest()

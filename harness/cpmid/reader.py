"""Open a built CPMID: verify every shard against the manifest, then read its images by rows.

Images stay on disk (`StoredRows`, read with pread) until a batch or a chunk asks for them, so a set
larger than memory opens, subsets and trains; labels and source ids are small and read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.cpmid.datasheet import render_datasheet
from harness.cpmid.manifest import load_manifest, shard_checksums
from harness.cpmid.shards import verify_files
from harness.data.arrays import ArrayDataset, TaskData
from harness.data.rows import StoredRows
from harness.errors import MedbenchError


@dataclass(frozen=True)
class CpmidSplit:
    """One split: images (N, S, S, C) uint8 on disk across its shards, multi-hot targets and source ids."""

    images: StoredRows | None  # None for an empty split
    targets: np.ndarray  # (N, L) uint8 multi-hot
    sources: np.ndarray  # (N,) int16 index into manifest["sources"]
    image_shape: tuple[int, int, int]
    shard_count: int

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Images at positions `index` (any order), read into memory."""
        index = np.asarray(index, dtype=np.int64)
        if self.images is None:
            if len(index):
                raise MedbenchError("image index out of range: the split is empty")
            return np.zeros((0, *self.image_shape), np.uint8)
        return self.images.read(index)

    def load_images(self) -> np.ndarray:
        """All images in memory (for small sets)."""
        return self.take(np.arange(len(self)))


class CpmidSet:
    """A verified CPMID folder: `.split(name)`, `.label_names`, `.manifest`."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.manifest = manifest

    @property
    def label_names(self) -> list[str]:
        return list(self.manifest["label_names"])

    @property
    def source_names(self) -> list[str]:
        return [s["name"] for s in self.manifest["sources"]]

    def split(self, name: str) -> CpmidSplit:
        splits = self.manifest["splits"]
        if name not in splits:
            raise MedbenchError(f"CPMID {self.manifest['name']} has no split {name!r}; it has {', '.join(splits)}")
        shards = [shard["files"] for shard in splits[name]["shards"]]
        size, channels = self.manifest["image_size"], self.manifest["channels"]
        images = StoredRows.of(*(self.folder / files["images"] for files in shards)) if shards else None
        targets = (np.concatenate([self._small(files["labels"]) for files in shards]) if shards
                   else np.zeros((0, len(self.label_names)), np.uint8))
        sources = np.concatenate([self._small(files["sources"]) for files in shards]) if shards else np.zeros(0, np.int16)
        if images is not None and not len(images) == len(targets) == len(sources):
            raise MedbenchError(f"CPMID split {name}: its shards hold different numbers of images and labels; rebuild the set")
        return CpmidSplit(images, targets, sources, (size, size, channels), len(shards))

    def _small(self, rel: str) -> np.ndarray:
        return np.load(self.folder / rel, allow_pickle=False)


def open_cpmid(folder: Path, verify: bool = True) -> CpmidSet:
    """Open a built set; with `verify`, every shard's sha256 is checked against manifest.json first."""
    folder = Path(folder)
    manifest = load_manifest(folder)
    if verify:
        verify_files(folder, shard_checksums(manifest))
    return CpmidSet(folder, manifest)


def to_task_data(cpmid: CpmidSet) -> TaskData:
    """The set as TaskData with (N, L) uint8 multi-hot targets, its images still on disk; val doubles as test."""
    def dataset(split: CpmidSplit) -> ArrayDataset:
        images = split.images if split.images is not None else np.zeros((0, *split.image_shape), np.uint8)
        return ArrayDataset(images, split.targets)
    train, val = (dataset(cpmid.split(name)) for name in ("train", "val"))
    return TaskData(train, val, val)


def cpmid_info(folder: Path) -> str:
    """The datasheet, then the verification result (a failed check raises instead)."""
    cpmid = open_cpmid(folder)
    files = shard_checksums(cpmid.manifest)
    return (render_datasheet(cpmid.manifest)
            + f"\nVerified: all {len(files)} shard files in {Path(folder)} match the sha256s in manifest.json.\n")

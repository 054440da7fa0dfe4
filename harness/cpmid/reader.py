"""Open a built CPMID: verify every shard against the manifest, then read it memory-mapped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.cpmid.datasheet import render_datasheet
from harness.cpmid.manifest import load_manifest, shard_checksums
from harness.cpmid.shards import verify_files
from harness.data.arrays import ArrayDataset, TaskData
from harness.errors import MedbenchError


@dataclass(frozen=True)
class Shard:
    images: np.ndarray  # (n, S, S, C) uint8, memory-mapped
    targets: np.ndarray  # (n, L) uint8 multi-hot
    sources: np.ndarray  # (n,) int16 index into manifest["sources"]


@dataclass(frozen=True)
class CpmidSplit:
    """One split as its shards; images stay on disk until indexed."""

    shards: tuple[Shard, ...]
    image_shape: tuple[int, int, int]
    num_labels: int

    def __len__(self) -> int:
        return sum(len(s.images) for s in self.shards)

    def iter_shards(self) -> Iterator[Shard]:
        return iter(self.shards)

    @property
    def targets(self) -> np.ndarray:
        return np.concatenate([s.targets for s in self.shards]) if self.shards else np.zeros((0, self.num_labels), np.uint8)

    @property
    def sources(self) -> np.ndarray:
        return np.concatenate([s.sources for s in self.shards]) if self.shards else np.zeros(0, np.int16)

    def take(self, index: np.ndarray) -> np.ndarray:
        """Images at global positions `index` (any order), read from the shards into memory."""
        index = np.asarray(index, dtype=np.int64)
        bounds = np.cumsum([0, *(len(s.images) for s in self.shards)])
        if len(index) and (index.min() < 0 or index.max() >= bounds[-1]):
            raise MedbenchError(f"image index out of range 0..{bounds[-1] - 1}")
        out = np.empty((len(index), *self.image_shape), dtype=np.uint8)
        which = np.searchsorted(bounds, index, side="right") - 1
        for k in np.unique(which):
            rows = which == k
            out[rows] = self.shards[k].images[index[rows] - bounds[k]]
        return out

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
        shards = tuple(self._shard(shard["files"]) for shard in splits[name]["shards"])
        size, channels = self.manifest["image_size"], self.manifest["channels"]
        return CpmidSplit(shards, (size, size, channels), len(self.label_names))

    def _shard(self, files: dict[str, str]) -> Shard:
        return Shard(*(np.load(self.folder / files[key], mmap_mode="r", allow_pickle=False)
                       for key in ("images", "labels", "sources")))


def open_cpmid(folder: Path, verify: bool = True) -> CpmidSet:
    """Open a built set; with `verify`, every shard's sha256 is checked against manifest.json first."""
    folder = Path(folder)
    manifest = load_manifest(folder)
    if verify:
        verify_files(folder, shard_checksums(manifest))
    return CpmidSet(folder, manifest)


def to_task_data(cpmid: CpmidSet) -> TaskData:
    """The set in memory as TaskData with (N, L) uint8 multi-hot targets; val doubles as test."""
    train, val = (ArrayDataset(split.load_images(), split.targets) for split in map(cpmid.split, ("train", "val")))
    return TaskData(train, val, val)


def cpmid_info(folder: Path) -> str:
    """The datasheet, then the verification result (a failed check raises instead)."""
    cpmid = open_cpmid(folder)
    files = shard_checksums(cpmid.manifest)
    return (render_datasheet(cpmid.manifest)
            + f"\nVerified: all {len(files)} shard files in {Path(folder)} match the sha256s in manifest.json.\n")

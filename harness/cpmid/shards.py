"""Packed uint8 shards on disk: a staging store while building, `.npy` shards with sha256s after.

Shards are plain `np.save` files, read by rows (`harness.data.rows.StoredRows`), so a set larger than
RAM is read one chunk (or one batch) at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from harness.atomic import write_atomic
from harness.checksums import file_digest, unverified
from harness.data.rows import NpyFile, StoredRows
from harness.errors import MedbenchError

SHARD_MAX_IMAGES = 4096
SHARD_MAX_BYTES = 256 * 2**20
SHARD_DIR = "shards"


class Staging:
    """Append-only on-disk array of kept items (images, thumbnails), read back by index before the
    split exists, so a large build never holds them all in memory."""

    def __init__(self, path: Path, item_shape: tuple[int, ...], dtype: type = np.uint8) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.item_shape = item_shape
        self.dtype = np.dtype(dtype)
        self.count = 0
        self._handle = open(path, "wb")

    def append(self, items: np.ndarray) -> None:
        self._handle.write(np.ascontiguousarray(items, dtype=self.dtype).tobytes())
        self.count += len(items)

    def read(self, index: np.ndarray) -> np.ndarray:
        """Items at `index` (any order, repeats allowed) as an in-memory array."""
        if self.count == 0:
            return np.zeros((0, *self.item_shape), self.dtype)
        self._handle.flush()
        rows = StoredRows((NpyFile(self.path, 0, (self.count, *self.item_shape), self.dtype),))
        return rows.read(np.asarray(index))

    def close(self) -> None:
        self._handle.close()
        self.path.unlink(missing_ok=True)


def shard_rows(image_shape: tuple[int, ...]) -> int:
    """Images per shard: at most SHARD_MAX_IMAGES and about SHARD_MAX_BYTES."""
    return max(1, min(SHARD_MAX_IMAGES, SHARD_MAX_BYTES // int(np.prod(image_shape))))


def write_split(out: Path, split: str, order: np.ndarray, staging: Staging, targets: np.ndarray,
                sources: np.ndarray) -> list[dict[str, Any]]:
    """Write `split` as shards in `order` (indices into staging); returns one record per shard."""
    rows = shard_rows(staging.item_shape)
    records = []
    for k, start in enumerate(range(0, len(order), rows)):
        index = order[start:start + rows]
        stem = f"{SHARD_DIR}/{split}-{k:05d}"
        files = {"images": f"{stem}.npy", "labels": f"{stem}.labels.npy", "sources": f"{stem}.sources.npy"}
        arrays = {"images": staging.read(index), "labels": targets[index], "sources": sources[index]}
        for key, rel in files.items():
            save_npy_atomic(out / rel, arrays[key])
        records.append({"count": len(index), "files": files,
                        "sha256": {rel: file_digest(out / rel) for rel in files.values()}})
    return records


def save_npy_atomic(path: Path, array: "np.ndarray | StoredRows") -> None:
    """np.save, written atomically (a shard is whole or absent); stored rows are copied a chunk at a time."""
    def write(handle: BinaryIO) -> None:
        if not isinstance(array, StoredRows):
            np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
            return
        np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                                      "fortran_order": False, "shape": array.shape})
        for _, chunk in array.chunks():
            handle.write(memoryview(np.ascontiguousarray(chunk)).cast("B"))
    write_atomic(path, write)


def verify_files(folder: Path, expected: dict[str, str]) -> None:
    """Every listed file exists and has its recorded sha256 (hashed once per file version); else one line naming it."""
    for rel in unverified(folder, expected):
        path = folder / rel
        if not path.is_file():
            raise MedbenchError(f"CPMID shard {path} is missing; rebuild the set with `medbench cpmid build`")
        raise MedbenchError(f"CPMID shard {path} does not match the sha256 in manifest.json (corrupt or edited); "
                            f"rebuild the set with `medbench cpmid build`")


def remove_stale(folder: Path, keep: set[str]) -> None:
    """Delete shard files a previous, different build left behind."""
    shard_dir = folder / SHARD_DIR
    for path in sorted(shard_dir.glob("*.npy")) if shard_dir.is_dir() else ():
        if f"{SHARD_DIR}/{path.name}" not in keep:
            path.unlink()

"""A split made ready for a run at its size: in (device) memory when it fits, else in the pixel store.

In memory the split is resized once and kept as uint8 tensors (`TensorSplit`), exactly as before
the store existed, so data that fit give the same numbers. Otherwise the resized pixels are streamed
into a store entry keyed by what they are made of (the source rows, the size, the resize policy) and
read batch by batch (`StoredSplit`); rows already at the run's size are read where they are.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

import numpy as np
import torch

from harness.data.arrays import ArrayDataset
from harness.data.batches import RESIZE_CHUNK, TensorSplit, resize_uint8
from harness.data.placement import Placement, place
from harness.data.rows import StoredRows, chunks_of
from harness.data.store import build_store, store_root
from harness.data.stored_split import StoredSplit, to_device
from harness.kinds import TaskKind

RESIZE_POLICY = "torch bilinear antialiased (pixels), nearest-exact (masks); uint8 rounding; chunks of 512 rows"

PreparedSplit = TensorSplit | StoredSplit


def prepare_split(ds: ArrayDataset, size: int, kind: TaskKind | str, device: torch.device,
                  placement: Placement | None = None) -> PreparedSplit:
    """The split at `size`, where `placement` (default: decided by its size against free memory) puts it."""
    kind = TaskKind(kind)
    placement = placement or place(split_bytes(ds, size, kind), device)
    split = _in_memory(ds.in_memory() if ds.stored else ds, size, kind, device) if placement.in_memory \
        else _stored(ds, size, kind, device)
    split.placement = f"{placement.name}: {placement.why}"
    return split


def split_bytes(ds: ArrayDataset, size: int, kind: TaskKind) -> int:
    """Bytes of the split's uint8 pixels (and masks) at the run's size."""
    per_image = ds.channels * size * size + (size * size if ds.masks is not None else 0)
    return len(ds) * (per_image + (size * size * 8 if kind.segmentation else 0))


def _in_memory(ds: ArrayDataset, size: int, kind: TaskKind, device: torch.device) -> TensorSplit:
    images = resize_uint8(torch.from_numpy(ds.images).permute(0, 3, 1, 2), size, "bilinear").contiguous()
    masks = None if ds.masks is None else resize_uint8(torch.from_numpy(ds.masks)[:, None], size, "nearest")[:, 0]
    if kind.segmentation:
        targets = resize_uint8(torch.from_numpy(ds.targets)[:, None], size, "nearest")[:, 0].long()
    else:
        targets = _class_targets(ds.targets, kind)
    return TensorSplit(to_device(images, device), to_device(targets, device),
                       None if masks is None else to_device(masks, device))


def _class_targets(targets: np.ndarray, kind: TaskKind) -> torch.Tensor:
    return torch.from_numpy(targets).float() if kind.multilabel else torch.from_numpy(targets).long()


def _stored(ds: ArrayDataset, size: int, kind: TaskKind, device: torch.device) -> StoredSplit:
    height, width = ds.images.shape[1:3]
    as_is = (height, width) == (size, size) and isinstance(ds.images, StoredRows) and not kind.segmentation
    if as_is and (ds.masks is None or isinstance(ds.masks, StoredRows)):
        return StoredSplit(ds.images, _class_targets(ds.targets, kind).to(device), device, ds.masks)
    key = _entry_key(ds, size, kind)

    def fill(builder: Any) -> dict[str, Any]:
        n = len(ds)
        builder.write("images", (n, size, size, ds.channels), np.uint8, _resized(ds.images, size, "bilinear"))
        if ds.masks is not None:
            builder.write("masks", (n, size, size), np.uint8, _resized(ds.masks, size, "nearest"))
        if kind.segmentation:
            builder.write("targets", (n, size, size), np.uint8, _resized(ds.targets, size, "nearest"))
        return {"resize_policy": RESIZE_POLICY, "size": size, "count": n}

    store = build_store(store_root() / "splits" / key, fill)
    targets = store.rows("targets") if kind.segmentation else _class_targets(ds.targets, kind).to(device)
    return StoredSplit(store.rows("images"), targets, device, store.rows("masks") if ds.masks is not None else None)


def _resized(array: np.ndarray | StoredRows, size: int, mode: str) -> Iterator[np.ndarray]:
    """(N, S, S[, C]) uint8 chunks of `array` resized as the in-memory path resizes it (same chunking)."""
    for _, chunk in chunks_of(array, RESIZE_CHUNK):
        tensor = torch.from_numpy(np.ascontiguousarray(chunk))
        if tensor.ndim == 4:
            yield resize_uint8(tensor.permute(0, 3, 1, 2), size, mode).permute(0, 2, 3, 1).numpy()
        else:
            yield resize_uint8(tensor[:, None], size, mode)[:, 0].numpy()


def _entry_key(ds: ArrayDataset, size: int, kind: TaskKind) -> str:
    """What the resized pixels are made of: the stored source rows (content-addressed files and the row
    index) or, for in-memory pixels, their bytes; with the size, the task kind and the resize policy."""
    digest = hashlib.sha256(f"{size}|{kind}|{RESIZE_POLICY}".encode())
    for array in (ds.images, ds.masks, ds.targets if kind.segmentation else None):
        if array is None:
            digest.update(b"none")
        elif isinstance(array, StoredRows):
            digest.update(repr([(str(f.path), f.path.stat().st_size, f.path.stat().st_mtime_ns, f.shape) for f in array.files]).encode())
            digest.update(b"all" if array.index is None else array.index.tobytes())
        else:
            for _, chunk in chunks_of(array):
                digest.update(np.ascontiguousarray(chunk).data)
    return digest.hexdigest()

"""A prepared split read from the pixel store, batch by batch, with a background prefetcher.

It offers the batch interface of `TensorSplit` (rows, gather, batches, eval_batches, pixels_sha256):
the engine, the frozen-feature modes and the CAM code cannot tell the two apart. A batch is gathered
from disk by row index (pread, harness.data.rows), laid out NCHW, pinned and copied without blocking
when the device is a GPU, while the model works on the batch before it; augmentation then runs on the
device as for in-memory splits. Classification targets are small and stay in (device) memory.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch

from harness.data.batches import HASH_CHUNK, Batch, RowsOf
from harness.data.rows import StoredRows

PREFETCH_DEPTH = 3  # batches read ahead
T = TypeVar("T")
_DONE = object()


@dataclass
class StoredSplit:
    """images (N, S, S, C) uint8 at the run's size on disk; targets a tensor on the device (classification)
    or stored (N, S, S) class-index masks (segmentation); optional stored lesion masks."""

    images: StoredRows
    targets: torch.Tensor | StoredRows
    device: torch.device
    masks: StoredRows | None = None
    placement: str = "store"

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, ...]:
        _, height, width, channels = self.images.shape
        return (channels, height, width)

    def _read(self, positions: np.ndarray, target_positions: np.ndarray | None = None) -> Batch:
        """Images and masks at `positions`, targets at `target_positions` (default: the same)."""
        images = to_device(torch.from_numpy(self.images.read(positions)).permute(0, 3, 1, 2).contiguous(), self.device)
        at = positions if target_positions is None else target_positions
        if isinstance(self.targets, StoredRows):
            targets = to_device(torch.from_numpy(self.targets.read(at)), self.device).long()
        else:
            targets = self.targets[torch.from_numpy(at).to(self.targets.device)]
        masks = None if self.masks is None else to_device(torch.from_numpy(self.masks.read(positions)), self.device)
        return Batch(images, targets, masks)

    def rows(self, start: int, stop: int) -> Batch:
        return self._read(np.arange(start, min(stop, len(self))))

    def gather(self, index: torch.Tensor) -> Batch:
        return self._read(index.cpu().numpy())

    def batches(self, orders: list[torch.Tensor]) -> Iterator[Batch]:
        return prefetched(self.gather, orders)

    def eval_batches(self, size: int, mine: RowsOf | None = None) -> Iterator[Batch]:
        """As TensorSplit.eval_batches; with `mine` only those rows' pixels are read."""
        def read(start: int) -> Batch:
            batch = torch.arange(start, min(start + size, len(self)))
            rows = batch if mine is None else batch[mine(len(batch))]
            return self._read(rows.numpy(), batch.numpy())

        return prefetched(read, range(0, len(self), size))

    def pixels_sha256(self) -> str:
        """The same checksum a TensorSplit of these pixels gives (NCHW bytes after the shape), read in chunks."""
        channels, height, width = self.image_shape
        digest = hashlib.sha256(f"{(len(self), channels, height, width)}".encode())
        for _, chunk in self.images.chunks(HASH_CHUNK):
            digest.update(np.ascontiguousarray(chunk.transpose(0, 3, 1, 2)).tobytes())
        return digest.hexdigest()


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Onto the run's device: pinned and copied without blocking on CUDA; a CPU tensor stays where it is."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


def prefetched(make: Callable[[T], Batch], items: Iterable[T], depth: int = PREFETCH_DEPTH) -> Iterator[Batch]:
    """`make(item)` for each item, computed up to `depth` ahead in a background thread (reading releases the
    GIL); an error in the thread is raised here, and leaving the loop early stops the thread."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                _put(ready, make(item), stop)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            _put(ready, exc, stop)
            return
        _put(ready, _DONE, stop)

    worker = threading.Thread(target=produce, name="medbench-prefetch", daemon=True)
    worker.start()
    try:
        while (got := ready.get()) is not _DONE:
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        worker.join(timeout=10)


def _put(ready: queue.Queue, value: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            ready.put(value, timeout=0.1)
            return
        except queue.Full:
            continue

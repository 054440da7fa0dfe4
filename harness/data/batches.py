"""Batches from uint8 tensors: resize once, then augment and normalise whole batches.

No per-sample Python or PIL work happens inside the training loop: a split is resized to the
protocol size once, kept as uint8 (on the GPU when there is one), and each batch is indexed,
converted and augmented with tensor ops driven by a seeded generator. A split too large for memory
is a `StoredSplit` (harness.data.stored_split) with the same batch interface, read from disk.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.arrays import ArrayDataset
from harness.errors import MedbenchError

AUGMENTATIONS = ("none", "flip", "flip_crop")
CROP_SCALE = (0.8, 1.0)  # flip_crop zooms into 80–100 % of the side, at a random position


HASH_CHUNK = 1024  # images hashed per device→host copy


RowsOf = Callable[[int], "slice | torch.Tensor"]  # a batch's length → the rows one process reads of it


class Batch(NamedTuple):
    """uint8 images (B, C, S, S), their targets and lesion masks (or None), on the run's device."""

    images: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor | None


@dataclass
class TensorSplit:
    """A split held in (device) memory: images (N, C, S, S) uint8, targets as int64 / float (multilabel) /
    uint8 masks. Its batch methods are the interface every prepared split offers."""

    images: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor | None = None
    placement: str = "memory"

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])

    def rows(self, start: int, stop: int) -> Batch:
        masks = None if self.masks is None else self.masks[start:stop]
        return Batch(self.images[start:stop], self.targets[start:stop], masks)

    def gather(self, index: torch.Tensor) -> Batch:
        index = index.to(self.images.device)
        return Batch(self.images[index], self.targets[index], None if self.masks is None else self.masks[index])

    def batches(self, orders: list[torch.Tensor]) -> Iterator[Batch]:
        """Training batches in the seeded order."""
        return (self.gather(index) for index in orders)

    def eval_batches(self, size: int, mine: RowsOf | None = None) -> Iterator[Batch]:
        """Consecutive batches, in order; with `mine`, images and masks are only rows `mine(len(batch))` of each
        (a torchrun rank's share) and targets the whole batch's (every rank scores every batch)."""
        for start in range(0, len(self), size):
            batch = self.rows(start, start + size)
            if mine is not None:
                rows = mine(len(batch.targets))
                batch = Batch(batch.images[rows], batch.targets, None if batch.masks is None else batch.masks[rows])
            yield batch

    def pixels_sha256(self) -> str:
        """Checksum of the uint8 pixels exactly as the model sees them (after resizing), NCHW."""
        digest = hashlib.sha256(f"{tuple(self.images.shape)}".encode())
        for start in range(0, len(self), HASH_CHUNK):
            digest.update(self.images[start:start + HASH_CHUNK].cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


RESIZE_CHUNK = 512


def resize_uint8(images: torch.Tensor, size: int, mode: str, chunk: int = RESIZE_CHUNK) -> torch.Tensor:
    """Resize (N, C, H, W) uint8 in chunks so memory stays bounded; masks use nearest."""
    if images.shape[-2:] == (size, size):
        return images
    out = []
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk].float()
        if mode == "nearest":
            part = F.interpolate(part, size=(size, size), mode="nearest-exact")
        else:
            part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(part.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out) if out else images.new_zeros((0, images.shape[1], size, size))


def limit(ds: ArrayDataset, n: int | None) -> ArrayDataset:
    """The first `n` images of a fixed (seed-0) shuffle: a protocol's cap is the same subset for every run."""
    if n is None or n >= len(ds):
        return ds
    return ds.subset(np.sort(np.random.default_rng(0).permutation(len(ds))[:n]))


class BatchTransform:
    """uint8 batch → normalised float batch, with the protocol's augmentation when training."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], augmentation: str, device: torch.device,
                 channels_last: bool = False) -> None:
        if augmentation not in AUGMENTATIONS:
            raise MedbenchError(f"unknown augmentation {augmentation!r}; choose one of {', '.join(AUGMENTATIONS)}")
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
        self.inv_std = 1.0 / (torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0)
        self.augmentation = augmentation
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None,
                 masks: torch.Tensor | None = None, of_batch: int | None = None,
                 rows: slice = slice(None), layout: torch.memory_format | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`of_batch`, `rows`: `images` are these rows of a batch of `of_batch` pictures (a torchrun rank's
        share); augmentation is drawn for the whole batch, so the rows get what one process gives them.
        `layout`: the memory format of the result when not the transform's own (CPU evaluation asks for NHWC)."""
        # one pass converts and lays out (a fresh tensor, so the in-place normalisation below is safe); empty + copy_
        # sets the strides even for 1 channel, where .to(memory_format=...) would keep NCHW's
        x = torch.empty(images.shape, dtype=torch.float32, device=images.device,
                        memory_format=layout or self.memory_format).copy_(images)
        if generator is not None and self.augmentation != "none":
            x, masks = self._augment(x, generator, masks, of_batch or len(x), rows)
            x = x.contiguous(memory_format=self.memory_format)
        return x.sub_(self.mean).mul_(self.inv_std), masks

    def _augment(self, x: torch.Tensor, generator: torch.Generator, masks: torch.Tensor | None, of_batch: int,
                 rows: slice) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = len(x)
        flip = (torch.rand(of_batch, generator=generator) < 0.5)[rows]
        if self.augmentation == "flip":
            flip = flip.to(x.device).view(n, 1, 1, 1)
            x = torch.where(flip, x.flip(3), x)
            if masks is not None:
                masks = torch.where(flip[:, 0], masks.flip(2), masks)
            return x, masks
        scale = torch.empty(of_batch).uniform_(*CROP_SCALE, generator=generator)
        shift = ((torch.rand(of_batch, 2, generator=generator) * 2 - 1) * (1 - scale)[:, None])[rows]
        scale = scale[rows]
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = scale * torch.where(flip, -1.0, 1.0)
        theta[:, 1, 1] = scale
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if masks is not None:
            warped = F.grid_sample(masks[:, None].float(), grid, mode="nearest", padding_mode="reflection", align_corners=False)
            masks = warped[:, 0].to(masks.dtype)
        return x, masks


def batch_order(n: int, batch_size: int, generator: torch.Generator, drop_last: bool) -> list[torch.Tensor]:
    """A seeded permutation cut into batches; the last short batch is dropped when training (BatchNorm)."""
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]

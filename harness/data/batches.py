"""Batches from in-memory uint8 tensors: resize once, then augment and normalise whole batches.

No per-sample Python or PIL work happens inside the training loop: a split is resized to the
protocol size once, kept as uint8 (on the GPU when there is one), and each batch is indexed,
converted and augmented with tensor ops driven by a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from harness.data.arrays import ArrayDataset
from harness.errors import MedbenchError
from harness.kinds import TaskKind

AUGMENTATIONS = ("none", "flip", "flip_crop")
CROP_SCALE = (0.8, 1.0)  # flip_crop zooms into 80–100 % of the side, at a random position


@dataclass
class TensorSplit:
    """A split ready for training: images (N, C, S, S) uint8, targets as int64 / float (multilabel) / uint8 masks."""

    images: torch.Tensor
    targets: torch.Tensor
    masks: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.images)


def _resize_uint8(images: torch.Tensor, size: int, mode: str, chunk: int = 512) -> torch.Tensor:
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


def prepare_split(ds: ArrayDataset, size: int, kind: TaskKind | str, device: torch.device) -> TensorSplit:
    kind = TaskKind(kind)
    images = _resize_uint8(torch.from_numpy(ds.images).permute(0, 3, 1, 2), size, "bilinear").contiguous()
    masks = None if ds.masks is None else _resize_uint8(torch.from_numpy(ds.masks)[:, None], size, "nearest")[:, 0]
    if kind.segmentation:
        targets = _resize_uint8(torch.from_numpy(ds.targets)[:, None], size, "nearest")[:, 0].long()
    elif kind.multilabel:
        targets = torch.from_numpy(ds.targets).float()
    else:
        targets = torch.from_numpy(ds.targets).long()
    pin = device.type == "cuda"
    move = (lambda t: t.pin_memory().to(device, non_blocking=True)) if pin else (lambda t: t.to(device))
    return TensorSplit(move(images), move(targets), None if masks is None else move(masks))


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
                 masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        # one pass converts and lays out (a fresh copy, so the in-place normalisation below is safe)
        x = images.to(torch.float32, memory_format=self.memory_format, copy=True)
        if generator is not None and self.augmentation != "none":
            x, masks = self._augment(x, generator, masks)
            x = x.contiguous(memory_format=self.memory_format)
        return x.sub_(self.mean).mul_(self.inv_std), masks

    def _augment(self, x: torch.Tensor, generator: torch.Generator,
                 masks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = len(x)
        flip = torch.rand(n, generator=generator) < 0.5
        if self.augmentation == "flip":
            flip = flip.to(x.device).view(n, 1, 1, 1)
            x = torch.where(flip, x.flip(3), x)
            if masks is not None:
                masks = torch.where(flip[:, 0], masks.flip(2), masks)
            return x, masks
        scale = torch.empty(n).uniform_(*CROP_SCALE, generator=generator)
        shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (1 - scale)[:, None]
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

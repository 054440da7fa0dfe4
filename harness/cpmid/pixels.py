"""One pixel format for the whole set: every source is resized to S×S and given the recipe's channels.

PIL does the work because its 8-bit resampling is integer arithmetic, so the same input gives the
same bytes on every machine — which byte-identical rebuilds and exact-duplicate hashes rely on.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import PIL
from PIL import Image

from harness.data.rows import StoredRows, chunks_of
from harness.errors import MedbenchError

LIBRARY = f"Pillow {PIL.__version__}"  # resampling arithmetic can change between Pillow releases
POLICY = ("PIL bicubic resize to size×size (antialiased when shrinking; aspect ratio not kept); "
          "gray→RGB by repeating the channel, RGB→gray by ITU-R 601 luminance (PIL 'L')")


def conform(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """(N, H, W, C) uint8 with C 1 or 3 → (N, size, size, channels) uint8."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise MedbenchError(f"source images must be uint8 (N, H, W, 1|3), got {images.dtype} {images.shape}")
    if images.shape[1:3] == (size, size):
        return _match_channels(images, channels)
    out = np.empty((len(images), size, size, channels), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = _conform_one(img, size, channels)
    return out


def conformed(images: "np.ndarray | StoredRows", size: int, channels: int) -> Iterator[np.ndarray]:
    """`conform`, one image at a time, reading stored images a chunk at a time (bounded memory)."""
    for _, chunk in chunks_of(images):
        yield from conform(chunk, size, channels)


def _match_channels(images: np.ndarray, channels: int) -> np.ndarray:
    have = images.shape[3]
    if have == channels:
        return np.ascontiguousarray(images)
    if have == 1:
        return np.repeat(images, 3, axis=3)
    return np.stack([np.asarray(Image.fromarray(img).convert("L")) for img in images])[..., None]


def _conform_one(img: np.ndarray, size: int, channels: int) -> np.ndarray:
    pil = Image.fromarray(img[..., 0]) if img.shape[2] == 1 else Image.fromarray(img)
    if channels == 1:
        pil = pil.convert("L")
    pixels = np.asarray(pil.resize((size, size), Image.Resampling.BICUBIC))
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], channels, axis=2)
    return pixels

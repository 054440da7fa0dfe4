"""Images from a family: `generate` draws n images of a seed, `contact_sheet` lays them out for eyeballing."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from harness.data.phantoms.families import FAMILIES
from harness.errors import MedbenchError

GENERATOR_VERSION = 2  # bump whenever any renderer changes its output: it is part of the cache key
MIN_SIZE = 16


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def _family_key(name: str) -> int:
    """A stable integer for the family name, mixed into every seed so families never share streams."""
    return zlib.crc32(name.encode())


def generate(family: str, n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (n, H, W, C) uint8, labels (n,) int64 cycling over the classes, masks (n, H, W) uint8.

    Image i comes from its own PCG64 stream seeded by (seed, family, i), so it is the same bytes
    whatever n is (on one platform; another CPU or numpy build may round a few pixels differently).
    """
    fam = FAMILIES.get(family)
    if n < 0 or size < MIN_SIZE or seed < 0:
        raise MedbenchError(f"synthetic {family}: need n >= 0, size >= {MIN_SIZE} and seed >= 0 "
                            f"(got n={n}, size={size}, seed={seed})")
    images = np.empty((n, size, size, fam.channels), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=np.uint8)
    labels = np.arange(n, dtype=np.int64) % fam.num_classes
    entropy = [int(seed), _family_key(fam.name)]
    for i in range(n):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(i,))))
        img, mask = fam.render(rng, int(labels[i]), size)
        images[i] = _to_uint8(img)
        masks[i] = mask
    return images, labels, masks


def contact_sheet(family: str, size: int = 64, n_per_class: int = 8, seed: int = 0, outline: bool = True) -> np.ndarray:
    """(rows x cols) RGB uint8 grid: one row per class; a red outline marks each lesion mask."""
    fam = FAMILIES.get(family)
    images, labels, masks = generate(family, n_per_class * fam.num_classes, size, seed)
    images = np.repeat(images, 3 // fam.channels, axis=-1) if fam.channels == 1 else images.copy()
    if outline:
        m = masks.astype(bool)
        inner = m.copy()
        inner[:, 1:-1, 1:-1] = m[:, 1:-1, 1:-1] & m[:, :-2, 1:-1] & m[:, 2:, 1:-1] & m[:, 1:-1, :-2] & m[:, 1:-1, 2:]
        images[m & ~inner] = (255, 0, 0)
    pad = 2
    sheet = np.full((fam.num_classes * (size + pad), n_per_class * (size + pad), 3), 255, dtype=np.uint8)
    for k in range(fam.num_classes):
        for j, idx in enumerate(np.flatnonzero(labels == k)[:n_per_class]):
            sheet[k * (size + pad):k * (size + pad) + size, j * (size + pad):j * (size + pad) + size] = images[idx]
    return sheet


def save_contact_sheets(folder: Path, size: int = 64, n_per_class: int = 8, scale: int = 2) -> list[Path]:
    """Write `<family>.png` per family into `folder` (upscaled `scale` times) for eyeballing realism."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in FAMILIES.names():
        sheet = contact_sheet(name, size, n_per_class)
        Image.fromarray(sheet.repeat(scale, axis=0).repeat(scale, axis=1)).save(folder / f"{name}.png")
        paths.append(folder / f"{name}.png")
    return paths

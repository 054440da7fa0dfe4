"""Drawing primitives the phantom families share: smooth noise, blurs, star-shaped blobs with wobbly
borders, dot clusters, curvilinear paths, and label-free finishing (tone, contrast, colour cast, noise).

Geometry is in normalised coordinates (-1..1 across the image), so every family renders at any size;
widths that must stay visible are given in pixels.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np


@lru_cache(maxsize=32)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (yy, xx) in -1..1."""
    c = (np.arange(size) + 0.5) / size * 2 - 1
    yy, xx = np.meshgrid(c, c, indexing="ij")
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


@lru_cache(maxsize=128)
def _kernel(size: int, sigma: float, knots: int = 0) -> np.ndarray:
    """Row-normalised Gaussian weights: from `knots` coarse knots (noise) or from pixels (blur, knots=0).

    `sigma` is in units of the image width; left-multiplying blurs or upsamples along one axis.
    """
    pos = (np.arange(size) + 0.5) / size
    src = pos if knots == 0 else (np.arange(knots) + 0.5) / knots
    k = np.exp(-0.5 * ((pos[:, None] - src[None, :]) / sigma) ** 2)
    k /= k.sum(axis=1, keepdims=True)
    k.flags.writeable = False
    return k


def blur(img: np.ndarray, sigma_px: float, sigma_x_px: float | None = None) -> np.ndarray:
    """Separable Gaussian blur of an (H, W) image; sigma in pixels (optionally another along x)."""
    size = img.shape[0]
    ky = _kernel(size, round(max(sigma_px, 0.3) / size, 5))
    kx = _kernel(size, round(max(sigma_x_px if sigma_x_px is not None else sigma_px, 0.3) / size, 5))
    return ky @ img @ kx.T


@lru_cache(maxsize=128)
def _noise_gain(size: int, cells: int, cells_x: int) -> float:
    """1 / (average std) of an upsampled white-noise field, so fields come out with unit variance."""
    ky, kx = _kernel(size, 0.8 / cells, cells), _kernel(size, 0.8 / cells_x, cells_x)
    return float(1 / np.sqrt(np.mean(np.outer((ky ** 2).sum(1), (kx ** 2).sum(1)))))


def noise(rng: np.random.Generator, size: int, cells: int, cells_x: int | None = None) -> np.ndarray:
    """Smooth random field of zero mean and about unit variance; `cells` knots per side set its scale."""
    cx = cells_x or cells
    g = rng.standard_normal((cells, cx))
    return _kernel(size, 0.8 / cells, cells) @ g @ _kernel(size, 0.8 / cx, cx).T * _noise_gain(size, cells, cx)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def border(rng: np.random.Generator, irregularity: float, orders: int = 10,
           decay: float = 1.3) -> np.ndarray:
    """Complex Fourier coefficients (orders 2..) of a closed border; `irregularity` ~ RMS radial wobble.

    0.03 looks like a smooth ellipse, 0.15 lobulated; a smaller `decay` adds sharper, spikier detail.
    """
    k = np.arange(2, 2 + orders)
    weights = k ** -decay / np.sqrt(np.sum(k ** (-2 * decay)) / 2)
    amps = irregularity * weights * rng.rayleigh(1 / np.sqrt(2), orders)
    return amps * np.exp(1j * rng.uniform(0, 2 * np.pi, orders))


_ANGLES = 256  # resolution of a border's radius table


def blob(size: int, cy: float, cx: float, radius: float, aspect: float = 1.0, angle: float = 0.0,
         border: np.ndarray | None = None, edge_px: float = 0.6) -> np.ndarray:
    """Soft occupancy (0..1) of a star-shaped blob: an ellipse whose radius is modulated by `border`.

    Only the blob's bounding box is computed (outside it the occupancy is below 1e-4), and the
    border is looked up in a table of radii per angle rather than summed per pixel.
    """
    reach = 1 + (0 if border is None else float(np.abs(border).sum()))
    half = radius * max(aspect, 1.0) * reach + 20 * edge_px / size * max(aspect, 1.0)
    y0, y1 = max(0, int((cy - half + 1) / 2 * size)), min(size, int((cy + half + 1) / 2 * size) + 1)
    x0, x1 = max(0, int((cx - half + 1) / 2 * size)), min(size, int((cx + half + 1) / 2 * size) + 1)
    out = np.zeros((size, size))
    if y1 <= y0 or x1 <= x0:
        return out
    yy, xx = grid(size)
    dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
    ca, sa = np.cos(angle), np.sin(angle)
    u = (dx * ca + dy * sa) / aspect
    v = dy * ca - dx * sa
    rho = np.sqrt(u * u + v * v) / radius
    if border is not None:
        rho = rho / _radius_table(border)[(np.arctan2(v, u) * (_ANGLES / (2 * np.pi))).astype(np.int64) % _ANGLES]
    out[y0:y1, x0:x1] = sigmoid((1 - rho) * radius * size / 2 / edge_px)
    return out


@lru_cache(maxsize=32)
def _harmonics(orders: int) -> np.ndarray:
    """exp(i k theta) for k = 2..orders+1 at `_ANGLES` evenly spaced angles."""
    theta = (np.arange(_ANGLES) + 0.5) * (2 * np.pi / _ANGLES)
    basis = np.exp(1j * np.outer(theta, np.arange(2, 2 + orders)))
    basis.flags.writeable = False
    return basis


def _radius_table(border: np.ndarray) -> np.ndarray:
    """Relative radius of a border at `_ANGLES` evenly spaced angles (never below 0.2)."""
    return np.maximum(1 + (_harmonics(len(border)) @ border).real, 0.2)


def _splat(size: int, ys: np.ndarray, xs: np.ndarray, weights: np.ndarray | float = 1.0) -> np.ndarray:
    """Bilinearly deposit point weights at normalised positions into an (H, W) image."""
    py = (np.ravel(ys) + 1) * (size / 2) - 0.5
    px = (np.ravel(xs) + 1) * (size / 2) - 0.5
    w = np.broadcast_to(np.asarray(weights, dtype=float), np.shape(ys)).ravel()
    y0, x0 = np.floor(py), np.floor(px)
    fy, fx = py - y0, px - x0
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    yi = np.concatenate([y0, y0, y0 + 1, y0 + 1])
    xi = np.concatenate([x0, x0 + 1, x0, x0 + 1])
    wi = np.concatenate([w * (1 - fy) * (1 - fx), w * (1 - fy) * fx, w * fy * (1 - fx), w * fy * fx])
    ok = (yi >= 0) & (yi < size) & (xi >= 0) & (xi < size)
    return np.bincount(yi[ok] * size + xi[ok], weights=wi[ok], minlength=size * size).reshape(size, size)


def dots(rng: np.random.Generator, size: int, ys: np.ndarray, xs: np.ndarray, radii: np.ndarray,
         roughness: float, sigma_px: float) -> np.ndarray:
    """Occupancy (0..1) of many small blobs at once: blurred impulses thresholded at each blob's radius.

    Cheaper than one blob per dot; touching dots merge like crowded nuclei; `roughness` modulates
    the field multiplicatively, which makes borders irregular without adding stray specks.
    """
    if len(ys) == 0:
        return np.zeros((size, size))
    r_px = np.asarray(radii) * size / 2
    amp = 0.5 * np.exp(r_px ** 2 / (2 * sigma_px ** 2)) * 2 * np.pi * sigma_px ** 2
    field = blur(_splat(size, ys, xs, amp), sigma_px)
    if roughness > 0:
        field = field * (1 + roughness * noise(rng, size, max(4, size // 3)))
    return sigmoid((field - 0.5) / 0.07)


def curves(rng: np.random.Generator, size: int, y0: Any, x0: Any, angle: Any, length: Any,
           turn: Any = 0.0, wiggle: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k smoothly bending paths at once, as (k, n) arrays (ys, xs, heading); points at most half a pixel apart."""
    angle = np.atleast_1d(np.asarray(angle, dtype=float))
    k = len(angle)
    y0, x0, length, turn = (np.broadcast_to(np.asarray(v, dtype=float), (k,))[:, None] for v in (y0, x0, length, turn))
    n = max(2, int(length.max(initial=0.0) * size))
    step = length / n
    drift = np.cumsum(rng.normal(0, wiggle, (k, n)), axis=1) * np.sqrt(step)
    heading = angle[:, None] + turn * step * np.arange(n) + drift
    return y0 + np.cumsum(np.sin(heading) * step, axis=1), x0 + np.cumsum(np.cos(heading) * step, axis=1), heading


def lines(size: int, ys: np.ndarray, xs: np.ndarray, width_px: float, weights: np.ndarray | float = 1.0) -> np.ndarray:
    """Render (k, n) path points as lines of peak ~`weights` with a Gaussian profile `width_px` wide."""
    if ys.size == 0:
        return np.zeros((size, size))
    spacing_px = np.sqrt((ys[:, 1] - ys[:, 0]) ** 2 + (xs[:, 1] - xs[:, 0]) ** 2)[:, None] * (size / 2)
    density = _splat(size, ys, xs, np.broadcast_to(weights, ys.shape) * spacing_px)
    return blur(density, width_px) * (width_px * np.sqrt(2 * np.pi))


def pick_inside(rng: np.random.Generator, region: np.ndarray, tries: int = 64) -> tuple[float, float]:
    """A random normalised point where `region` > 0.5 (its most-inside pixel if none is hit)."""
    size = region.shape[0]
    cand = rng.uniform(-1, 1, (tries, 2))
    idx = np.clip(((cand + 1) / 2 * size).astype(int), 0, size - 1)
    hit = np.flatnonzero(region[idx[:, 0], idx[:, 1]] > 0.5)
    if len(hit):
        return float(cand[hit[0], 0]), float(cand[hit[0], 1])
    iy, ix = np.unravel_index(np.argmax(region), region.shape)
    return float((iy + 0.5) / size * 2 - 1), float((ix + 0.5) / size * 2 - 1)


def lesion_mask(occupancy: np.ndarray) -> np.ndarray:
    """Pixels mostly covered by the lesion; at tiny sizes at least its strongest pixel."""
    mask = occupancy > 0.5
    if not mask.any() and occupancy.max() > 0:
        mask = occupancy >= 0.5 * occupancy.max()
    return mask


def _tone(rng: np.random.Generator, img: np.ndarray, spread: float) -> np.ndarray:
    """A random gamma-like tone curve x / (x + k (1 - x)), much cheaper than a power."""
    img = np.clip(img, 0, 1)
    return img / (img + np.exp(rng.uniform(-spread, spread)) * (1 - img) + 1e-9)


def finish_gray(rng: np.random.Generator, img: np.ndarray, noise: tuple[float, float] = (0.005, 0.03)) -> np.ndarray:
    """Random tone curve, contrast, brightness and sensor noise, independent of the label."""
    img = _tone(rng, img, 0.6)
    img = (img - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.12, 0.12)
    img = img + rng.uniform(*noise) * rng.standard_normal(img.shape)
    return img[..., None]


def finish_rgb(rng: np.random.Generator, img: np.ndarray, cast: float = 0.08,
               noise: tuple[float, float] = (0.005, 0.025), spread: float = 1.0) -> np.ndarray:
    """Random tone curve, contrast, brightness, colour cast and sensor noise, independent of the label.

    `spread` widens the exposure variation for modalities where it is large in practice.
    """
    img = _tone(rng, img, 0.5 * spread)
    img = (img - 0.5) * np.exp(rng.uniform(-0.25, 0.25) * spread) + 0.5 + rng.uniform(-0.1, 0.1) * spread
    img = img * np.exp(rng.normal(0, cast, 3))
    return img + rng.uniform(*noise) * rng.standard_normal(img.shape)


def tint(base: np.ndarray, colour: np.ndarray | tuple[float, ...], alpha: np.ndarray) -> np.ndarray:
    """Alpha-blend an RGB `colour` over `base` (H, W, 3) with per-pixel `alpha` (H, W)."""
    return base + (np.asarray(colour) - base) * alpha[..., None]


def blur_rgb(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Blur each channel of an (H, W, C) image."""
    return np.stack([blur(img[..., c], sigma_px) for c in range(img.shape[-1])], axis=-1)


def network(rng: np.random.Generator, size: int, cells: int, width: float) -> np.ndarray:
    """A web of thin lines (the zero set of a smooth field): pigment network, fissures, pit patterns."""
    return np.exp(-(noise(rng, size, cells) / width) ** 2)

"""Procedural, medically flavoured image families: the embedded benchmark that needs no download.

Each family renders one image at a time from its own random stream, so image i is a function of
(family, seed, size, i) alone. The label lives in local structure (a lesion's shape, border, texture,
count or colour); global brightness, contrast and colour are randomised per image independently of
the label, and where a lesion adds pixels of a distinctive tone a label-free structure draws on the
same budget, so global statistics barely predict the label (tests check it). Every image comes
with the mask of the structure that defines its label (all zeros for a "normal" image).

Downstream families (xray, histo, fundus, ultrasound) form the embedded suite; pretraining families
(derm, ct, endoscopy) share their visual primitives — blobs with regular or irregular borders, dot
clusters, speckle, texture, curvilinear vessels — without sharing images, so pretraining on one set
and fine-tuning on the other is a transfer test.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.data import LOADERS
from harness.atomic import write_atomic
from harness.data.arrays import SPLITS, ArrayDataset, TaskData
from harness.errors import MedbenchError
from harness.paths import medbench_home
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

GENERATOR_VERSION = 2  # bump whenever any renderer changes its output: it is part of the cache key
ROLES = ("downstream", "pretraining")
MIN_SIZE = 16

# A renderer draws one image of class `label` at `size` px from `rng`:
# it returns the image as float (H, W, C) in about [0, 1] and the lesion mask as bool (H, W).
Renderer = Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SyntheticFamily:
    name: str
    modality: str
    channels: int
    class_names: tuple[str, ...]
    role: str
    description: str
    render: Renderer

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise MedbenchError(f"synthetic family {self.name!r}: role must be one of {ROLES}, not {self.role!r}")
        if self.channels not in (1, 3):
            raise MedbenchError(f"synthetic family {self.name!r}: channels must be 1 or 3")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


FAMILIES: Registry[SyntheticFamily] = Registry("synthetic family")


def _family(name: str, modality: str, channels: int, class_names: tuple[str, ...], role: str,
            description: str) -> Callable[[Renderer], Renderer]:
    """Register the decorated renderer as a family."""
    def decorate(render: Renderer) -> Renderer:
        FAMILIES.add(name, SyntheticFamily(name, modality, channels, class_names, role, description, render))
        return render
    return decorate


# ---------------------------------------------------------------------------------------------
# Primitives. Geometry is in normalised coordinates (-1..1 across the image), so every family
# renders at any size; widths that must stay visible are given in pixels.
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=32)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
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


def _blur(img: np.ndarray, sigma_px: float, sigma_x_px: float | None = None) -> np.ndarray:
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


def _noise(rng: np.random.Generator, size: int, cells: int, cells_x: int | None = None) -> np.ndarray:
    """Smooth random field of zero mean and about unit variance; `cells` knots per side set its scale."""
    cx = cells_x or cells
    g = rng.standard_normal((cells, cx))
    return _kernel(size, 0.8 / cells, cells) @ g @ _kernel(size, 0.8 / cx, cx).T * _noise_gain(size, cells, cx)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _border(rng: np.random.Generator, irregularity: float, orders: int = 10,
            decay: float = 1.3) -> np.ndarray:
    """Complex Fourier coefficients (orders 2..) of a closed border; `irregularity` ~ RMS radial wobble.

    0.03 looks like a smooth ellipse, 0.15 lobulated; a smaller `decay` adds sharper, spikier detail.
    """
    k = np.arange(2, 2 + orders)
    weights = k ** -decay / np.sqrt(np.sum(k ** (-2 * decay)) / 2)
    amps = irregularity * weights * rng.rayleigh(1 / np.sqrt(2), orders)
    return amps * np.exp(1j * rng.uniform(0, 2 * np.pi, orders))


_ANGLES = 256  # resolution of a border's radius table


def _blob(size: int, cy: float, cx: float, radius: float, aspect: float = 1.0, angle: float = 0.0,
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
    yy, xx = _grid(size)
    dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
    ca, sa = np.cos(angle), np.sin(angle)
    u = (dx * ca + dy * sa) / aspect
    v = dy * ca - dx * sa
    rho = np.sqrt(u * u + v * v) / radius
    if border is not None:
        rho = rho / _radius_table(border)[(np.arctan2(v, u) * (_ANGLES / (2 * np.pi))).astype(np.int64) % _ANGLES]
    out[y0:y1, x0:x1] = _sigmoid((1 - rho) * radius * size / 2 / edge_px)
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


def _dots(rng: np.random.Generator, size: int, ys: np.ndarray, xs: np.ndarray, radii: np.ndarray,
          roughness: float, sigma_px: float) -> np.ndarray:
    """Occupancy (0..1) of many small blobs at once: blurred impulses thresholded at each blob's radius.

    Cheaper than one blob per dot; touching dots merge like crowded nuclei; `roughness` modulates
    the field multiplicatively, which makes borders irregular without adding stray specks.
    """
    if len(ys) == 0:
        return np.zeros((size, size))
    r_px = np.asarray(radii) * size / 2
    amp = 0.5 * np.exp(r_px ** 2 / (2 * sigma_px ** 2)) * 2 * np.pi * sigma_px ** 2
    field = _blur(_splat(size, ys, xs, amp), sigma_px)
    if roughness > 0:
        field = field * (1 + roughness * _noise(rng, size, max(4, size // 3)))
    return _sigmoid((field - 0.5) / 0.07)


def _curves(rng: np.random.Generator, size: int, y0: Any, x0: Any, angle: Any, length: Any,
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


def _lines(size: int, ys: np.ndarray, xs: np.ndarray, width_px: float, weights: np.ndarray | float = 1.0) -> np.ndarray:
    """Render (k, n) path points as lines of peak ~`weights` with a Gaussian profile `width_px` wide."""
    if ys.size == 0:
        return np.zeros((size, size))
    spacing_px = np.sqrt((ys[:, 1] - ys[:, 0]) ** 2 + (xs[:, 1] - xs[:, 0]) ** 2)[:, None] * (size / 2)
    density = _splat(size, ys, xs, np.broadcast_to(weights, ys.shape) * spacing_px)
    return _blur(density, width_px) * (width_px * np.sqrt(2 * np.pi))


def _pick_inside(rng: np.random.Generator, region: np.ndarray, tries: int = 64) -> tuple[float, float]:
    """A random normalised point where `region` > 0.5 (its most-inside pixel if none is hit)."""
    size = region.shape[0]
    cand = rng.uniform(-1, 1, (tries, 2))
    idx = np.clip(((cand + 1) / 2 * size).astype(int), 0, size - 1)
    hit = np.flatnonzero(region[idx[:, 0], idx[:, 1]] > 0.5)
    if len(hit):
        return float(cand[hit[0], 0]), float(cand[hit[0], 1])
    iy, ix = np.unravel_index(np.argmax(region), region.shape)
    return float((iy + 0.5) / size * 2 - 1), float((ix + 0.5) / size * 2 - 1)


def _lesion_mask(occupancy: np.ndarray) -> np.ndarray:
    """Pixels mostly covered by the lesion; at tiny sizes at least its strongest pixel."""
    mask = occupancy > 0.5
    if not mask.any() and occupancy.max() > 0:
        mask = occupancy >= 0.5 * occupancy.max()
    return mask


def _tone(rng: np.random.Generator, img: np.ndarray, spread: float) -> np.ndarray:
    """A random gamma-like tone curve x / (x + k (1 - x)), much cheaper than a power."""
    img = np.clip(img, 0, 1)
    return img / (img + np.exp(rng.uniform(-spread, spread)) * (1 - img) + 1e-9)


def _finish_gray(rng: np.random.Generator, img: np.ndarray, noise: tuple[float, float] = (0.005, 0.03)) -> np.ndarray:
    """Random tone curve, contrast, brightness and sensor noise, independent of the label."""
    img = _tone(rng, img, 0.6)
    img = (img - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.12, 0.12)
    img = img + rng.uniform(*noise) * rng.standard_normal(img.shape)
    return img[..., None]


def _finish_rgb(rng: np.random.Generator, img: np.ndarray, cast: float = 0.08,
                noise: tuple[float, float] = (0.005, 0.025), spread: float = 1.0) -> np.ndarray:
    """Random tone curve, contrast, brightness, colour cast and sensor noise, independent of the label.

    `spread` widens the exposure variation for modalities where it is large in practice.
    """
    img = _tone(rng, img, 0.5 * spread)
    img = (img - 0.5) * np.exp(rng.uniform(-0.25, 0.25) * spread) + 0.5 + rng.uniform(-0.1, 0.1) * spread
    img = img * np.exp(rng.normal(0, cast, 3))
    return img + rng.uniform(*noise) * rng.standard_normal(img.shape)


def _tint(base: np.ndarray, colour: np.ndarray | tuple[float, ...], alpha: np.ndarray) -> np.ndarray:
    """Alpha-blend an RGB `colour` over `base` (H, W, 3) with per-pixel `alpha` (H, W)."""
    return base + (np.asarray(colour) - base) * alpha[..., None]


# ---------------------------------------------------------------------------------------------
# Downstream families
# ---------------------------------------------------------------------------------------------

@_family("xray", "chest X-ray", 1, ("normal", "nodule", "opacity"), "downstream",
         "Frontal chest-radiograph phantom: lung fields, heart, spine, ribs and vascular markings. "
         "Nodule: one to three small well-circumscribed round densities; opacity: an ill-defined patchy "
         "consolidation with an irregular border; normal: neither.")
def _xray(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    body = _blob(size, 0.2, 0, rng.uniform(0.9, 1.05), aspect=rng.uniform(0.95, 1.1), edge_px=2.5)
    lung_w, lung_h = rng.uniform(0.25, 0.33), rng.uniform(0.52, 0.64)
    lung_dx, lung_cy = rng.uniform(0.36, 0.45), rng.uniform(-0.1, 0.02)
    lungs = np.maximum(*(_blob(size, lung_cy, side * lung_dx, lung_h, aspect=lung_w / lung_h,
                               angle=side * rng.uniform(-0.2, 0.0), border=_border(rng, 0.04, 4), edge_px=1.5)
                         for side in (-1, 1)))
    heart = _blob(size, lung_cy + 0.32, rng.uniform(0.12, 0.22), rng.uniform(0.24, 0.3), aspect=1.3, edge_px=2.0)
    spine = np.exp(-(xx / rng.uniform(0.09, 0.13)) ** 4) * body
    lungs = lungs * (1 - heart) * (1 - spine)
    side = np.repeat([-1.0, 1.0], 5)  # vessels fan out from each hilum, fading towards the periphery
    angle = np.pi / 2 * (1 - side) + side * rng.uniform(-0.9, 0.9, 10)
    ys, xs, _ = _curves(rng, size, lung_cy + 0.1, side * 0.2, angle, rng.uniform(0.3, 0.6, 10), wiggle=0.8)
    markings = np.clip(_lines(size, ys, xs, 0.6, np.linspace(1, 0.2, ys.shape[1])), 0, 1)
    spacing = rng.uniform(0.12, 0.15)
    phase = (yy - 1.1 * (np.abs(xx) - 0.35) ** 2 + 0.15 * np.abs(xx) - rng.uniform(0, spacing)) / spacing
    ribs = ((0.5 + 0.5 * np.cos(2 * np.pi * phase)) ** 2) ** 3
    img = (0.12 + 0.45 * body + 0.04 * _noise(rng, size, 4) - rng.uniform(0.25, 0.38) * lungs
           + lungs * (0.07 * markings + 0.02 * _noise(rng, size, 12)) + 0.12 * spine * (1 - lungs)
           + rng.uniform(0.04, 0.08) * ribs * (0.25 + 0.75 * lungs) * body)
    lesion = np.zeros((size, size))
    if label == 1:
        for _ in range(rng.integers(1, 4)):
            cy, cx = _pick_inside(rng, _blur(lungs, 2.0) > 0.7)
            lesion = np.maximum(lesion, _blob(size, cy, cx, rng.uniform(0.09, 0.15), aspect=rng.uniform(0.85, 1.15),
                                              border=_border(rng, 0.03, 4), edge_px=0.7))
        img = img + rng.uniform(0.2, 0.3) * lesion
    elif label == 2:
        cy, cx = _pick_inside(rng, _blur(lungs, 3.0) > 0.7)
        region = _blob(size, cy, cx, rng.uniform(0.25, 0.38), aspect=rng.uniform(0.7, 1.3),
                       border=_border(rng, 0.18, decay=1.0), edge_px=2.0)
        lesion = region * _sigmoid(3 * _noise(rng, size, 10) + 1.5) * lungs
        img = img + rng.uniform(0.16, 0.24) * lesion
    return _finish_gray(rng, _blur(img, 0.5)), _lesion_mask(lesion)


def _stain(rng: np.random.Generator, hema: np.ndarray, eosin: np.ndarray) -> np.ndarray:
    """Beer–Lambert H&E rendering with per-image stain vectors (stain variation)."""
    h = np.array([0.65, 0.70, 0.29]) + rng.normal(0, 0.04, 3)
    e = np.array([0.07, 0.99, 0.11]) + rng.normal(0, 0.04, 3)
    od = hema[..., None] * np.clip(h, 0.02, None) + eosin[..., None] * np.clip(e, 0.02, None)
    return np.exp(-od * rng.uniform(0.85, 1.15))


def _nuclei(rng: np.random.Generator, size: int, fraction: float, radius: float, jitter: float, roughness: float,
            region: np.ndarray) -> np.ndarray:
    """Occupancy of nuclei of mean `radius` (normalised) covering about `fraction` of `region`."""
    count = int(fraction * 4.41 / (np.pi * radius ** 2 * np.exp(2 * jitter ** 2)))
    ys, xs = rng.uniform(-1.05, 1.05, (2, count))
    idx = np.clip(((np.stack([ys, xs]) + 1) / 2 * size).astype(int), 0, size - 1)
    keep = region[idx[0], idx[1]] > 0.5
    radii = radius * np.exp(jitter * rng.standard_normal(count))[keep]
    return _dots(rng, size, ys[keep], xs[keep], radii, roughness, sigma_px=max(0.7, radius * size / 2 * 0.8))


def _blur_rgb(img: np.ndarray, sigma_px: float) -> np.ndarray:
    """Blur each channel of an (H, W, C) image."""
    return np.stack([_blur(img[..., c], sigma_px) for c in range(img.shape[-1])], axis=-1)


@_family("histo", "histopathology (H&E)", 3, ("normal", "inflammation", "tumour"), "downstream",
         "H&E-stained tissue tile: pink fibrous stroma, pale lumina and hematoxylin nuclei. Inflammation: a "
         "region crowded with small, round, uniform lymphocytes; tumour: a region of enlarged, pleomorphic "
         "nuclei with irregular outlines and coarse chromatin; normal: scattered small regular nuclei only.")
def _histo(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    fibres = _noise(rng, size, 3, 14) if rng.random() < 0.5 else _noise(rng, size, 14, 3)
    eosin = rng.uniform(0.25, 0.5) * (1 + 0.35 * fibres + 0.15 * _noise(rng, size, 20))
    lumen = np.zeros((size, size))
    for _ in range(rng.integers(0, 3)):
        lumen = np.maximum(lumen, _blob(size, *rng.uniform(-0.9, 0.9, 2), rng.uniform(0.1, 0.3),
                                        aspect=rng.uniform(0.5, 1.5), border=_border(rng, 0.1), edge_px=1.0))
    cellularity = rng.uniform(0.07, 0.16)  # nuclear area fraction of the whole tile, whatever the label
    region = np.zeros((size, size))
    if label:
        region = _blob(size, *rng.uniform(-0.4, 0.4, 2), rng.uniform(0.4, 0.65), aspect=rng.uniform(0.7, 1.4),
                       border=_border(rng, 0.15), edge_px=1.5)
    inside = {0: 0.0, 1: rng.uniform(2.2, 2.8), 2: rng.uniform(1.0, 1.3)}[label] * cellularity
    share = float(region.mean())  # crowding inside the region is paid for by sparser tissue outside
    outside = max(0.3 * cellularity, (cellularity - share * inside) / max(1 - share, 1e-6))
    nuclei = _nuclei(rng, size, outside, 0.045, 0.12, 0.0, (1 - region) * (1 - lumen))
    chromatin = 1 + 0.15 * _noise(rng, size, max(4, size // 3))
    if label == 1:
        nuclei = np.maximum(nuclei, _nuclei(rng, size, inside, 0.04, 0.06, 0.0, region))
    elif label == 2:
        nuclei = np.maximum(nuclei, _nuclei(rng, size, inside, 0.08, 0.3, 0.45, region))
        chromatin = chromatin * (1 - 0.3 * region) + 0.3 * region * _noise(rng, size, max(4, size // 2))  # vesicular
    hema = rng.uniform(0.8, 1.3) * nuclei * chromatin + 0.05
    img = _stain(rng, hema * (1 - 0.9 * lumen), eosin * (1 - 0.6 * nuclei) * (1 - 0.9 * lumen))
    return _finish_rgb(rng, _blur_rgb(img, 0.45), cast=0.04), _lesion_mask(region)


def _vessel_tree(rng: np.random.Generator, size: int, y0: float, x0: float, toward: float) -> np.ndarray:
    """Retinal vessels leaving the disc at (y0, x0): four arcades with branches; `toward` = +-1 macula side."""
    up = np.array([-1.0, -1.0, 1.0, 1.0])
    temporal = np.array([True, False, True, False])
    sign = np.where((toward > 0) == temporal, 1.0, -1.0)  # +1: the arcade starts rightwards
    angle = np.where(sign > 0, 0.0, np.pi) + up * sign * rng.uniform(0.5, 0.9, 4)
    turn = -up * sign * rng.uniform(0.8, 1.4, 4) * np.where(temporal, 1.0, 0.4)
    ys, xs, head = _curves(rng, size, y0, x0, angle, rng.uniform(0.9, 1.4, 4), turn=turn, wiggle=0.6)
    n = ys.shape[1]
    trunk = np.repeat(np.arange(4), rng.integers(1, 6, 4))  # 1-5 branches per arcade
    at = rng.integers(n // 5, n, len(trunk))
    bend = rng.choice([-1.0, 1.0], len(trunk)) * rng.uniform(0.5, 1.1, len(trunk))
    tys, txs, _ = _curves(rng, size, ys[trunk, at], xs[trunk, at], head[trunk, at] + bend,
                          rng.uniform(0.2, 0.5, len(trunk)), wiggle=0.9)
    tree = _lines(size, ys, xs, rng.uniform(0.55, 0.85)) + 0.7 * _lines(size, tys, txs, 0.45)
    return np.clip(tree, 0, 1.2)


@_family("fundus", "retinal fundus photograph", 3, ("normal", "haemorrhage", "exudate"), "downstream",
         "Colour fundus photograph: orange retina, bright optic disc, darker macula, branching vessels. "
         "Haemorrhage: scattered dark-red dots and blots; exudate: a cluster of small bright yellow "
         "irregular flecks; normal: neither. Scattered small round drusen and a choroidal pattern occur in "
         "every class; drusen and exudates share one budget of pale area, so their total is label-free.")
def _fundus(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    fov_r = rng.uniform(0.86, 0.98)
    fov = _blob(size, 0, 0, fov_r, edge_px=0.8)
    base = np.array([0.78, 0.36, 0.14]) * np.exp(rng.normal(0, 0.06, 3))
    vignette = 1 - rng.uniform(0.25, 0.45) * ((yy * yy + xx * xx) / fov_r ** 2) ** 1.25
    img = base * (vignette * (1 + 0.07 * _noise(rng, size, 6)) * (1 + 0.03 * _noise(rng, size, 24)))[..., None]
    side = rng.choice([-1.0, 1.0])
    dy, dx = rng.normal(0, 0.05), side * rng.uniform(0.38, 0.5)
    my, mx = dy + rng.normal(0, 0.05), dx - side * rng.uniform(0.65, 0.8)
    macula = _blob(size, my, mx, rng.uniform(0.12, 0.18), edge_px=4.0)
    img = img * (1 - rng.uniform(0.2, 0.35) * macula)[..., None]
    vessels = _vessel_tree(rng, size, dy, dx, -side)
    img = img * (1 - vessels[..., None] * np.array([0.25, 0.55, 0.5]) * rng.uniform(0.7, 1.0))
    sheen = np.clip(_blur(vessels, 2.5) - vessels, 0, 1) * (1 + _noise(rng, size, 8)).clip(0, 2)
    img = _tint(img, (1.0, 0.85, 0.6), rng.uniform(0.0, 1.0) * sheen)  # nerve-fibre-layer reflex along vessels
    disc_r = rng.uniform(0.08, 0.16)
    disc = _blob(size, dy, dx, disc_r, aspect=rng.uniform(0.85, 1.0), edge_px=1.0)
    img = _tint(img, (1.0, 0.82, 0.55), rng.uniform(0.5, 0.85) * disc)
    cup = _blob(size, dy, dx + side * 0.02, disc_r * rng.uniform(0.3, 0.55), edge_px=1.0)
    img = _tint(img, (1.0, 0.95, 0.8), 0.6 * cup)
    tessellation = _network(rng, size, max(4, size // 6), 0.5) * fov  # choroidal pattern of healthy myopic eyes
    img = img * (1 - rng.uniform(0.0, 0.35) * tessellation[..., None] * np.array([0.3, 0.6, 0.6]))
    inside = fov * (1 - _blur(disc, 2.0))
    bright = rng.uniform(0.012, 0.03)  # image fraction of pale spots, split between drusen and exudates
    exudate = bright * rng.uniform(0.6, 1.0) if label == 2 else 0.0
    n = int((bright - exudate) * 4 / (np.pi * 0.03 ** 2))  # drusen: scattered round pale dots, label-free
    drusen = _dots(rng, size, *rng.uniform(-0.8, 0.8, (2, n)), rng.uniform(0.025, 0.035, n), 0, 0.8)
    img = _tint(img, (0.95, 0.8, 0.5), rng.uniform(0.4, 0.8) * drusen * inside)
    lesion = np.zeros((size, size))
    if label == 1:
        count = rng.integers(6, 14)
        pts = np.array([_pick_inside(rng, inside > 0.6) for _ in range(count)]).T
        radii = np.where(rng.random(count) < 0.4, rng.uniform(0.04, 0.06, count), rng.uniform(0.07, 0.11, count))
        lesion = _dots(rng, size, pts[0], pts[1], radii, 0.15, 0.8) * inside
        img = _tint(img, base * np.array([0.62, 0.32, 0.38]) * rng.uniform(0.85, 1.05), 0.95 * lesion)
    elif label == 2:
        cy, cx = _pick_inside(rng, inside > 0.6)
        count = int(exudate * 4 / (np.pi * 0.045 ** 2))
        spread = rng.uniform(0.08, 0.16)
        lesion = _dots(rng, size, cy + spread * rng.standard_normal(count), cx + spread * rng.standard_normal(count),
                       rng.uniform(0.035, 0.055, count), 0.3, 0.8) * inside
        img = _tint(img, (1.0, 0.88, 0.42), rng.uniform(0.6, 0.9) * lesion)
    return _finish_rgb(rng, img * fov[..., None], spread=1.6) * fov[..., None], _lesion_mask(lesion)


@_family("ultrasound", "breast ultrasound", 1, ("normal", "benign", "malignant"), "downstream",
         "B-mode breast ultrasound sector with speckle, skin line, fat lobules, glandular tissue and "
         "muscle. Benign: an oval, wider-than-tall, smooth-bordered hypoechoic mass; malignant: an "
         "irregular, angular, heterogeneous mass; normal: no mass (hypoechoic fat lobules in every class).")
def _ultrasound(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    apex = -1.0 - rng.uniform(0.3, 0.6)
    radius, theta = np.sqrt((yy - apex) ** 2 + xx ** 2), np.arctan2(xx, yy - apex)
    half = rng.uniform(0.45, 0.6)
    r0, r1 = -0.95 - apex, 0.98 - apex
    depth = (radius - r0) / (r1 - r0)
    sector = _sigmoid((half - np.abs(theta)) * radius * size / 2) * _sigmoid(depth * size)
    sector = sector * _sigmoid((1 - depth) * size)
    wave = 0.04 * _noise(rng, size, 1, 5)
    fat_end, gland_end = rng.uniform(0.2, 0.35) + wave, rng.uniform(0.6, 0.8) + wave
    echo = _blur(np.where(depth < fat_end, 0.35, np.where(depth < gland_end, 0.75, 0.5)), 1.2)
    echo = echo * (1 + 0.3 * _noise(rng, size, 8)) + 0.6 * np.exp(-0.5 * (depth / 0.015) ** 2)  # + skin line
    echo = echo + 0.25 * (depth > gland_end) * np.cos(radius * size * rng.uniform(0.5, 0.8)) ** 2  # muscle fibres
    lobules = np.zeros((size, size))
    for _ in range(rng.integers(2, 5)):
        ly, lx = rng.uniform(-0.7, 0.5), rng.uniform(-0.6, 0.6)
        lobule = _blob(size, ly, lx, rng.uniform(0.08, 0.16), aspect=rng.uniform(1.6, 2.6), angle=rng.normal(0, 0.15),
                       border=_border(rng, 0.05, 4), edge_px=1.5)
        lobules = np.maximum(lobules, lobule)
    echo = echo * (1 - rng.uniform(0.4, 0.6) * lobules)
    lesion = np.zeros((size, size))
    if label:
        cy, cx, r = rng.uniform(-0.3, 0.4), rng.uniform(-0.35, 0.35), rng.uniform(0.16, 0.26)
        if label == 1:
            lesion = _blob(size, cy, cx, r, aspect=rng.uniform(1.25, 1.7), angle=rng.normal(0, 0.2),
                           border=_border(rng, 0.03, 4), edge_px=0.8)
            inner = 1.0
        else:
            lesion = _blob(size, cy, cx, r, aspect=rng.uniform(0.75, 1.1), angle=rng.normal(0, 0.3),
                           border=_border(rng, rng.uniform(0.15, 0.25), decay=0.9), edge_px=0.8)
            inner = np.clip(1 + 0.5 * _noise(rng, size, 10), 0.5, 1.5)
        echo = echo * (1 - lesion * rng.uniform(0.7, 0.9) * inner)
        beneath = yy - cy - r
        below = (np.abs(xx - cx) < r * 0.8) * _sigmoid(beneath * size / 4) * np.exp(-np.maximum(beneath, 0) * 1.5)
        echo = echo * (1 + rng.uniform(-0.4, 0.4) * _blur(below, 1.5))  # posterior shadow or enhancement
    re, im = (_blur(rng.standard_normal((size, size)), 0.8, 1.2) for _ in range(2))  # lateral blur > axial
    speckle = np.sqrt(re * re + im * im)
    speckle = 0.35 + 0.65 * speckle / speckle.mean()  # partly averaged out at this resolution
    intensity = np.clip(echo, 0, None) * speckle * np.exp(-rng.uniform(0.0, 1.0) * depth)
    img = np.log1p(6 * intensity) / np.log1p(12.0)
    return _finish_gray(rng, img) * sector[..., None], _lesion_mask(lesion)


# ---------------------------------------------------------------------------------------------
# Pretraining families
# ---------------------------------------------------------------------------------------------

def _network(rng: np.random.Generator, size: int, cells: int, width: float) -> np.ndarray:
    """A web of thin lines (the zero set of a smooth field): pigment network, fissures, pit patterns."""
    return np.exp(-(_noise(rng, size, cells) / width) ** 2)


def _hairs(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    """Dark curved hairs crossing a dermoscopy field."""
    ys, xs, _ = _curves(rng, size, *rng.uniform(-1, 1, (2, count)), rng.uniform(0, 2 * np.pi, count),
                        rng.uniform(0.6, 1.6, count), turn=rng.normal(0, 0.8, count), wiggle=0.2)
    return np.clip(_lines(size, ys, xs, 0.5), 0, 1)


@_family("derm", "dermoscopy", 3, ("nevus", "melanoma", "keratosis"), "pretraining",
         "Dermoscopy-like skin with hairs and a pigmented lesion. Nevus: round, regular border, even "
         "brown with a fine regular network; melanoma: asymmetric irregular border, blotches of several "
         "colours, a coarse broken network and peripheral dots; keratosis: sharply demarcated lumpy tan "
         "lesion with fissures, white milia cysts and dark comedo openings.")
def _derm(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    tone = rng.uniform(0, 1)
    skin = np.array([0.93, 0.76, 0.66]) * (1 - tone) + np.array([0.66, 0.46, 0.34]) * tone
    texture = rng.uniform(0.02, 0.1) * _noise(rng, size, 5) + rng.uniform(0.01, 0.05) * _noise(rng, size, 24)
    img = skin * (1 + texture)[..., None]
    cy, cx = rng.normal(0, 0.12, 2)
    r = rng.uniform(0.28, 0.58)
    if label == 0:
        border = _border(rng, 0.03, 4)
    else:
        border = _border(rng, rng.uniform(0.14, 0.22), decay=1.0) if label == 1 else _border(rng, 0.08)
    lesion = _blob(size, cy, cx, r, aspect=rng.uniform(0.75, 1.25), angle=rng.uniform(0, np.pi),
                   border=border, edge_px=0.7 if label == 2 else 1.5)
    pigment = np.array([0.42, 0.26, 0.16]) * np.exp(rng.normal(0, 0.1, 3)) * rng.uniform(0.7, 1.4)
    alpha = rng.uniform(0.5, 0.85)
    if label == 0:
        centre = rng.uniform(0, 0.25) * _blob(size, cy, cx, r * 0.5, edge_px=4.0)  # darker centre
        img = _tint(img, pigment, alpha * lesion * (0.8 + 0.2 * _network(rng, size, max(4, size // 5), 0.4) + centre))
    elif label == 1:
        img = _tint(img, pigment, 0.85 * alpha * lesion * (0.8 + 0.3 * _network(rng, size, max(4, size // 9), 0.6)))
        strength = rng.uniform(0.25, 0.55)
        for colour in ((0.15, 0.08, 0.07), (0.35, 0.4, 0.55), (0.85, 0.72, 0.7), (0.7, 0.3, 0.3)):
            img = _tint(img, colour, strength * _sigmoid(4 * _noise(rng, size, 6) - 2.5) * lesion)
        n = rng.integers(4, 12)
        ang, rad = rng.uniform(0, 2 * np.pi, n), r * rng.uniform(0.7, 1.1, n)
        dots = _dots(rng, size, cy + rad * np.sin(ang), cx + rad * np.cos(ang), np.full(n, 0.03), 0.1, 0.8)
        img = _tint(img, (0.2, 0.12, 0.1), 0.8 * dots)
        lesion = np.maximum(lesion, dots)
    else:
        img = _tint(img, pigment, alpha * lesion * (1 - 0.35 * _network(rng, size, max(4, size // 6), 0.3)))
        for colour in ((0.97, 0.95, 0.9), (0.2, 0.14, 0.1)):  # milia cysts, comedo openings
            count = rng.integers(2, 7)
            ang, rad = rng.uniform(0, 2 * np.pi, count), r * np.sqrt(rng.uniform(0, 0.6, count))
            cysts = _dots(rng, size, cy + rad * np.sin(ang), cx + rad * np.cos(ang), np.full(count, 0.035), 0.0, 0.8)
            img = _tint(img, colour, 0.85 * cysts * lesion)
    img = _tint(img, (0.15, 0.1, 0.08), 0.8 * _hairs(rng, size, int(rng.integers(0, 12))))
    if rng.random() < 0.5:  # round dermoscope field
        img = img * _blob(size, 0, 0, rng.uniform(1.0, 1.3), edge_px=3.0)[..., None]
    return _finish_rgb(rng, _blur_rgb(img, 0.4), cast=0.12, spread=1.3), _lesion_mask(lesion)


def _paint(img: np.ndarray, occupancy: np.ndarray, value: np.ndarray | float) -> np.ndarray:
    """Replace `img` by `value` where `occupancy` is 1, blending at soft edges."""
    return img * (1 - occupancy) + value * occupancy


@_family("ct", "abdominal CT", 1, ("normal", "cyst", "tumour"), "pretraining",
         "Axial abdominal CT slice: body wall and fat, liver, spleen, kidneys, aorta, vertebra and bowel "
         "loops with gas. Cyst: a round, sharply bordered, homogeneous low-density liver lesion; tumour: an "
         "irregular, heterogeneous, ill-defined lesion with an enhancing rim; normal: neither.")
def _ct(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    bx, by = rng.uniform(0.78, 0.95), rng.uniform(0.58, 0.72)
    body = _blob(size, 0.05, 0, by, aspect=bx / by, border=_border(rng, 0.02, 4), edge_px=0.8)
    wall = _blob(size, 0.05, 0, by - 0.07, aspect=(bx - 0.07) / (by - 0.07), edge_px=0.8)
    inner = _blob(size, 0.05, 0, by - 0.11, aspect=(bx - 0.11) / (by - 0.11), edge_px=0.8)
    img = 0.3 * body + 0.25 * (wall - inner) + inner * (0.08 + 0.02 * _noise(rng, size, 10))
    for _ in range(rng.integers(3, 7)):  # bowel loops, some with gas
        loop = _blob(size, rng.uniform(-0.2, 0.3), rng.uniform(-0.3, 0.45), rng.uniform(0.07, 0.12),
                     aspect=rng.uniform(0.7, 1.4), edge_px=0.8) * inner
        img = _paint(img, loop, rng.uniform(0.5, 0.6))
        if rng.random() < 0.4:
            img = img * (1 - loop * _blob(size, *rng.uniform(-0.1, 0.3, 2), 0.04, edge_px=0.6))
    liver = _blob(size, rng.uniform(-0.2, 0.0), rng.uniform(-0.5, -0.35), rng.uniform(0.3, 0.38),
                  aspect=rng.uniform(0.9, 1.2), border=_border(rng, 0.06, 5), edge_px=0.8) * inner
    img = _paint(img, liver, 0.62)
    img = _paint(img, _blob(size, rng.uniform(-0.15, 0.05), rng.uniform(0.45, 0.6), rng.uniform(0.12, 0.18),
                            aspect=0.7, angle=0.6, edge_px=0.8) * inner, 0.6)  # spleen
    for side in (-1, 1):  # kidneys
        img = _paint(img, _blob(size, rng.uniform(0.22, 0.3), side * rng.uniform(0.25, 0.33), rng.uniform(0.09, 0.11),
                                aspect=0.65, angle=side * 0.5, edge_px=0.7), 0.72)
    img = _paint(img, _blob(size, 0.25, rng.uniform(-0.02, 0.08), 0.05, edge_px=0.6), 0.82)  # aorta
    img = _paint(img, _blob(size, rng.uniform(0.4, 0.46), 0, rng.uniform(0.1, 0.12), aspect=1.2, edge_px=0.6),
                 0.85 + 0.06 * _noise(rng, size, 16))  # vertebra
    img = _paint(img, _blob(size, 0.6, 0, 0.045, edge_px=0.6), 0.45)  # spinal canal
    lesion = np.zeros((size, size))
    if label:
        cy, cx = _pick_inside(rng, _blur(liver, 2.5) > 0.8)
        r = rng.uniform(0.06, 0.12)
        if label == 1:
            lesion = _blob(size, cy, cx, r, aspect=rng.uniform(0.85, 1.15), border=_border(rng, 0.02, 4), edge_px=0.5)
            img = _paint(img, lesion, rng.uniform(0.35, 0.45))
        else:
            lesion = _blob(size, cy, cx, r * 1.2, aspect=rng.uniform(0.7, 1.3), border=_border(rng, 0.18, decay=1.0),
                           edge_px=1.2)
            core = _blob(size, cy, cx, r * 0.8, border=_border(rng, 0.15), edge_px=1.2)
            img = _paint(img, lesion, 0.42 + 0.06 * _noise(rng, size, 12)) + 0.12 * np.clip(lesion - core, 0, 1)
        lesion = lesion * liver
    img = img + rng.uniform(0.01, 0.04) * _blur(rng.standard_normal((size, size)), 0.6) * body
    return _finish_gray(rng, img, noise=(0.0, 0.01)), _lesion_mask(lesion)


@_family("endoscopy", "GI endoscopy", 3, ("normal", "polyp", "ulcer"), "pretraining",
         "Colonoscopy-like frame: pink mucosa with folds, a dark lumen, fine vessels and specular "
         "highlights, and pale mucus strands. Polyp: a round raised blob with a shaded rim and pit pattern; "
         "ulcer: an irregular whitish-yellow fibrin patch with a red rim; normal: neither. Mucus and fibrin "
         "share one budget of pale area, so their total is label-free.")
def _endoscopy(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = _grid(size)
    ly, lx = rng.uniform(-0.5, 0.5, 2)
    dist = np.sqrt((yy - ly) ** 2 + (xx - lx) ** 2)
    folds = np.cos(dist * rng.uniform(6, 10) + 2 * _noise(rng, size, 3)) * np.exp(-dist)
    light = np.clip(0.35 + 0.55 * dist + 0.12 * folds + 0.05 * _noise(rng, size, 6), 0.05, 1.1)
    mucosa = np.array([0.86, 0.45, 0.38]) * np.exp(rng.normal(0, 0.07, 3))
    img = mucosa * light[..., None]
    count = rng.integers(3, 8)
    ys, xs, _ = _curves(rng, size, *rng.uniform(-1, 1, (2, count)), rng.uniform(0, 2 * np.pi, count),
                        rng.uniform(0.3, 0.8, count), wiggle=1.5)
    vessels = np.clip(_lines(size, ys, xs, 0.45), 0, 1)
    img = img * (1 - 0.35 * vessels[..., None] * np.array([0.2, 0.8, 0.7]))
    lesion = np.zeros((size, size))
    cy, cx = _pick_inside(rng, (dist > 0.35) & (np.abs(yy) < 0.75) & (np.abs(xx) < 0.75))
    if label == 1:
        r = rng.uniform(0.14, 0.26)
        lesion = _blob(size, cy, cx, r, aspect=rng.uniform(0.85, 1.15), border=_border(rng, 0.04, 4), edge_px=0.8)
        direction = rng.uniform(0, 2 * np.pi)
        lit = 1 + 0.8 * ((yy - cy) * np.sin(direction) + (xx - cx) * np.cos(direction)) / r  # raised: lit on one side
        pits = 1 - 0.15 * _network(rng, size, max(4, size // 4), 0.4)
        rim = np.clip(lesion - _blob(size, cy, cx, r * 0.75, edge_px=0.8), 0, 1)
        surface = mucosa * np.array([1.1, 0.9, 0.9]) * (np.clip(lit, 0.5, 1.5) * pits * (1 - 0.5 * rim))[..., None]
        img = img * (1 - lesion[..., None]) + surface * lesion[..., None]
        glint = _blob(size, cy - 0.4 * r * np.sin(direction), cx - 0.4 * r * np.cos(direction), 0.15 * r, edge_px=0.6)
        img = _tint(img, (1.0, 1.0, 1.0), 0.8 * glint)
    elif label == 2:
        r = rng.uniform(0.1, 0.2)
        lesion = _blob(size, cy, cx, r, aspect=rng.uniform(0.7, 1.3), border=_border(rng, 0.16, decay=1.1), edge_px=0.8)
        img = _tint(img, (0.75, 0.15, 0.12), 0.7 * np.clip(2 * _blur(lesion, 1.5) * (1 - lesion), 0, 1))
        img = _tint(img, (0.9, 0.8, 0.6), 0.75 * lesion * np.clip(1 + 0.1 * _noise(rng, size, 12), 0, 1))
    pale = rng.uniform(0.005, 0.035) - float(lesion.mean()) * (label == 2)  # mucus and fibrin share one budget
    length = max(pale, 0.0) * 4 / (3 * 1.5 * 2 / size)  # three strands about 1.5 px wide
    ys, xs, _ = _curves(rng, size, *rng.uniform(-0.8, 0.8, (2, 3)), rng.uniform(0, 2 * np.pi, 3), length, wiggle=1.0)
    img = _tint(img, (0.92, 0.88, 0.75), 0.7 * np.clip(_lines(size, ys, xs, 0.6), 0, 1))
    n = rng.integers(1, 12)
    glints = _dots(rng, size, *rng.uniform(-0.9, 0.9, (2, n)), rng.uniform(0.015, 0.06, n), 0.3, 0.7)
    img = _tint(img, (1.0, 1.0, 1.0), 0.9 * glints)
    img = img * _blob(size, 0, 0, rng.uniform(1.05, 1.35), edge_px=2.5)[..., None]
    return _finish_rgb(rng, img), _lesion_mask(lesion)


# ---------------------------------------------------------------------------------------------
# Generation, cache and loader
# ---------------------------------------------------------------------------------------------

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


def _cache_path(family: str, seed: int, size: int, split: str, n: int) -> Path:
    return medbench_home() / "synthetic" / f"{family}-s{seed}-{size}px-{split}-{n}-v{GENERATOR_VERSION}.npz"


def _read_cache(path: Path, n: int, size: int, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The cached split, or None when it is missing, unreadable or of the wrong shape."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels, masks = npz["images"], npz["labels"], npz["masks"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if images.shape != (n, size, size, channels) or labels.shape != (n,) or masks.shape != (n, size, size):
        return None
    return images, labels, masks


def _write_cache(path: Path, arrays: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Write atomically so a crash never leaves a half file under the final name."""
    try:
        write_atomic(path, lambda fh: np.savez(fh, images=arrays[0], labels=arrays[1], masks=arrays[2]))
    except OSError:
        pass  # a read-only cache only costs regeneration next time


def split_seed(seed: int, split: str) -> int:
    """Disjoint streams per split, derived from the task's data seed."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(split.encode())]).generate_state(1, np.uint32)[0])


def cached_generate(family: str, n: int, size: int, seed: int, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`generate` for one split of a data seed, through the on-disk cache."""
    fam = FAMILIES.get(family)
    path = _cache_path(fam.name, seed, size, split, n)
    arrays = _read_cache(path, n, size, fam.channels)
    if arrays is None:
        arrays = generate(fam.name, n, size, split_seed(seed, split))
        _write_cache(path, arrays)
    return arrays


_ARGS = {"family", "seed"}


def _check_args(spec: TaskSpec, args: dict[str, Any]) -> tuple[SyntheticFamily, int]:
    unknown = sorted(set(args) - _ARGS)
    if unknown:
        raise MedbenchError(f"task {spec.name}: unknown synthetic source arg(s) {', '.join(unknown)}; "
                            "allowed: family, seed")
    if "family" not in args:
        raise MedbenchError(f"task {spec.name}: source.args.family is required (one of {', '.join(FAMILIES.names())})")
    fam = FAMILIES.get(str(args["family"]))
    seed = args.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise MedbenchError(f"task {spec.name}: source.args.seed must be a non-negative integer, not {seed!r}")
    if spec.channels != fam.channels:
        raise MedbenchError(f"task {spec.name}: channels is {spec.channels} but family {fam.name} has {fam.channels}")
    expected = 2 if spec.is_segmentation else fam.num_classes
    if spec.num_classes != expected:
        raise MedbenchError(f"task {spec.name}: needs {expected} label_names for family {fam.name}, "
                            f"got {spec.num_classes}")
    return fam, seed


@LOADERS.register("synthetic")
def load_synthetic(spec: TaskSpec, args: dict[str, Any], data_dir: Path | None) -> TaskData:
    """Generate (or read from cache) the three splits; `data_dir` is unused, nothing is downloaded."""
    fam, seed = _check_args(spec, args)
    splits = []
    for split in SPLITS:
        images, labels, masks = cached_generate(fam.name, spec.splits[split], spec.image_size, seed, split)
        if spec.is_segmentation:
            splits.append(ArrayDataset(images, masks))
        else:
            splits.append(ArrayDataset(images, labels, masks))
    return TaskData(*splits)


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

"""Near copies across splits: a pHash relative to the dataset's mean picture proposes candidates, an
aligned pixel correlation confirms them.

Why relative to the mean: images of a standardised anatomy (chest films, CT slices, our synthetic
phantoms) share most of their picture, so plain pHashes of different patients collide (12% of all
pairs of synthetic chest films within 10 bits) and plain correlations reach 0.97-0.99, as high as a
re-encoded copy. Each gray thumbnail is standardised and the dataset's mean of them subtracted: what
is left is what makes this image this image; copies share it, look-alikes do not.

Why translations: a copy moved by 2 px has a pHash up to 30 bits away at 28 px. Every image of the
smaller split of a pair is hashed at each translation within `max_shift_px` (probes), so one probe
lines up with the copy; the check then tries every translation in that window.

The check compares gray images at their own size (area-resampled down to `check_side` when larger),
lightly blurred (JPEG blocks and resampling noise are fine detail), each standardised (so brightness
and contrast do not matter) and minus the dataset mean in the reference image's frame; the pair is a
near copy when the best correlation over the translations reaches `min_correlation` AND, at that
translation, the band-passed images (the blur minus a heavy blur) correlate at least
`min_detail_correlation`. The second test rejects photos that only share their layout (a bright
patch at the bottom, dark corners: two different colonoscopy frames scored 0.947 overall but 0.74
in detail); copies keep their detail (≥ 0.9 for BreastMNIST's copies, ≥ 0.83 for 28-px films
downsampled to half size and back).

Thresholds (measured on 28-px PneumoniaMNIST and BreastMNIST, 224-px Kvasir-SEG and our synthetic
families): no pair of different chest films among PneumoniaMNIST's 4,752 cross-split candidates
reaches a correlation of 0.95 (the highest is 0.942, all look-alikes when viewed); BreastMNIST's
copies of one BUSI frame score 0.95-1.0, while its crops of one frame (0.84-0.95) are missed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator

import numpy as np

from harness.hashing import hamming, near_duplicate_keys, thumbnail_hashes, thumbnails, translated

HASH_SIDE = 32  # pHash thumbnails: 8×8 DCT frequencies of a 32×32 thumbnail
MIN_POPULATION = 50  # below this the mean picture is mostly the images themselves: not subtracted
_QUERY_CHUNK = 2048  # query images searched at once: bounds the candidate list held in memory
_CHECK_BATCH = 2048  # candidate pairs checked at once
_THUMB_CHUNK = 4096  # images turned into thumbnails at once


@dataclass(frozen=True)
class NearRule:
    """How near is a near copy; recorded with every audit."""

    max_distance: int = 10  # pHash bits (of 63) between the residual hashes of a candidate pair
    max_shift_px: int = 2  # translations tried, in the dataset's pixels
    min_correlation: float = 0.95  # aligned residual correlation that confirms a candidate
    min_detail_correlation: float = 0.8  # and the same for the band-passed images, at that alignment
    check_side: int = 64  # larger images are area-resampled to this side for the check
    blur: float = 0.7  # Gaussian sigma before the check, in pixels of a 32-px thumbnail (scaled to the check side)
    detail_blur: float = 4.0  # the heavy blur subtracted for the detail test, same units

    def describe(self) -> dict[str, Any]:
        return {**asdict(self),
                "hash": "DCT pHash (63 bits) of the 32×32 gray thumbnail, standardised, minus the dataset mean",
                "check": "max over translations of the Pearson correlation of blurred, standardised gray images "
                         "minus the dataset mean; at that translation, the same for blur minus heavy blur",
                "searched": "pairs of images in different splits"}


@dataclass(frozen=True)
class NearPair:
    split_a: str
    index_a: int
    split_b: str
    index_b: int
    distance: int  # smallest pHash distance over the probes
    correlation: float


def near_pairs(splits: dict[str, np.ndarray], exact_ids: dict[str, np.ndarray], rule: NearRule) -> list[NearPair]:
    """Every confirmed near copy between two different splits; pairs of identical images are left to
    the exact check (`exact_ids`: one integer per distinct decoded image)."""
    filled = [name for name in splits if len(splits[name])]
    if len(filled) < 2:
        return []
    population = _Population(splits, rule)
    found: list[NearPair] = []
    for a, b in itertools.combinations(filled, 2):
        query, ref = (a, b) if len(splits[a]) <= len(splits[b]) else (b, a)
        for q_idx, r_idx, dist in population.candidates(query, ref):
            keep = exact_ids[query][q_idx] != exact_ids[ref][r_idx]
            q_idx, r_idx, dist = q_idx[keep], r_idx[keep], dist[keep]
            corr, detail = population.check(splits[query], q_idx, splits[ref], r_idx)
            for i in np.flatnonzero((corr >= rule.min_correlation) & (detail >= rule.min_detail_correlation)):
                pair = sorted([(query, int(q_idx[i])), (ref, int(r_idx[i]))], key=lambda m: list(splits).index(m[0]))
                found.append(NearPair(*pair[0], *pair[1], int(dist[i]), round(float(corr[i]), 4)))
    return found


class _Population:
    """The dataset's mean pictures (for hashing and for the check) and the hashes built on them."""

    def __init__(self, splits: dict[str, np.ndarray], rule: NearRule) -> None:
        self.splits = splits
        self.rule = rule
        arrays = [images for images in splits.values() if len(images)]
        side = min(arrays[0].shape[1:3])
        self.check_side = min(rule.check_side, side)
        self.probes = _probe_offsets(rule.max_shift_px * HASH_SIDE / side, HASH_SIDE / side)
        self.check_shift = math.ceil(rule.max_shift_px * self.check_side / side)
        enough = sum(len(images) for images in arrays) >= MIN_POPULATION
        self.hash_mean = _mean(arrays, self._hash_view) if enough else 0.0
        self.check_mean = _mean(arrays, self._check_view) if enough else np.zeros((2, self.check_side, self.check_side))
        self._hashes: dict[str, np.ndarray] = {}

    def candidates(self, query: str, ref: str) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(query index, reference index, distance) arrays, one chunk of query images at a time."""
        reference, offsets = self.hashes(ref), self.probes
        for start in range(0, len(self.splits[query]), _QUERY_CHUNK):
            chunk = self.splits[query][start:start + _QUERY_CHUNK]
            standard = self._hash_view(chunk)
            probes = np.stack([thumbnail_hashes(translated(standard, dy, dx) - self.hash_mean)
                               for dy, dx in offsets], axis=1)  # (n, probes)
            keys = near_duplicate_keys(probes.ravel(), reference, self.rule.max_distance)
            flat, r_idx = keys // len(reference), keys % len(reference)
            dist = hamming(probes.ravel()[flat], reference[r_idx])
            pair = (flat // len(offsets)) * len(reference) + r_idx
            order = np.lexsort((dist, pair))  # per pair, the closest probe first
            pair, dist = pair[order], dist[order]
            first = np.concatenate([[True], pair[1:] != pair[:-1]]) if len(pair) else np.zeros(0, bool)
            pair, dist = pair[first], dist[first]
            yield pair // len(reference) + start, pair % len(reference), dist

    def hashes(self, split: str) -> np.ndarray:
        if split not in self._hashes:
            images = self.splits[split]
            self._hashes[split] = np.concatenate(
                [thumbnail_hashes(self._hash_view(images[s:s + _THUMB_CHUNK]) - self.hash_mean)
                 for s in range(0, len(images), _THUMB_CHUNK)] or [np.zeros(0, np.uint64)])
        return self._hashes[split]

    def check(self, images_a: np.ndarray, index_a: np.ndarray, images_b: np.ndarray,
              index_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each pair (images_a[index_a[i]], images_b[index_b[i]]): the best correlation over
        translations, and the detail correlation at that translation; the mean is taken in b's frame."""
        best, detail = np.full(len(index_a), -1.0), np.full(len(index_a), -1.0)
        side = self.check_side
        for start in range(0, len(index_a), _CHECK_BATCH):
            a = self._check_view(images_a[index_a[start:start + _CHECK_BATCH]])
            b = self._check_view(images_b[index_b[start:start + _CHECK_BATCH]])
            done = slice(start, start + len(a))
            for dy, dx in _offsets(self.check_shift):
                rows_a, cols_a = slice(max(0, dy), side + min(0, dy)), slice(max(0, dx), side + min(0, dx))
                rows_b, cols_b = slice(max(0, -dy), side + min(0, -dy)), slice(max(0, -dx), side + min(0, -dx))
                m = self.check_mean[:, rows_b, cols_b]
                corr, fine = (_correlation(a[:, k, rows_a, cols_a] - m[k], b[:, k, rows_b, cols_b] - m[k])
                              for k in (0, 1))
                better = corr > best[done]
                best[done] = np.where(better, corr, best[done])
                detail[done] = np.where(better, fine, detail[done])
        return best, detail

    def _hash_view(self, images: np.ndarray) -> np.ndarray:
        return _standardised(thumbnails(images, HASH_SIDE))

    def _check_view(self, images: np.ndarray) -> np.ndarray:
        """(N, 2, side, side): the blurred standardised image, and that minus its heavy blur (detail)."""
        scale = self.check_side / HASH_SIDE
        standard = _standardised(thumbnails(images, self.check_side))
        smooth = _blur(standard, self.rule.blur * scale)
        return np.stack([smooth, smooth - _blur(standard, self.rule.detail_blur * scale)], axis=1)


def _offsets(radius: int) -> list[tuple[int, int]]:
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def _probe_offsets(reach: float, pixel: float) -> list[tuple[float, float]]:
    """Translations of a hash thumbnail, in its pixels, covering ±reach in steps of one dataset pixel
    (but no finer than half a thumbnail pixel: smaller moves barely change the hash)."""
    step = max(pixel, 0.5)
    steps = round(reach / step)
    return [(dy * step, dx * step) for dy in range(-steps, steps + 1) for dx in range(-steps, steps + 1)]


def _mean(arrays: list[np.ndarray], view: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    total, count = 0.0, 0
    for images in arrays:
        for start in range(0, len(images), _THUMB_CHUNK):
            chunk = view(images[start:start + _THUMB_CHUNK])
            total, count = total + chunk.sum(axis=0, dtype=np.float64), count + len(chunk)
    return np.asarray(total / count, dtype=np.float32)


def _standardised(thumbs: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per image (flat images stay zero): brightness and contrast drop out."""
    centred = thumbs - thumbs.mean(axis=(1, 2), keepdims=True)
    scale = centred.std(axis=(1, 2), keepdims=True)
    return np.divide(centred, scale, out=np.zeros_like(centred), where=scale > 1e-6).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("nk,nk->n", a, a) * np.einsum("nk,nk->n", b, b))
    return np.divide(np.einsum("nk,nk->n", a, b), norm, out=np.zeros(len(a)), where=norm > 1e-9)


def _blur(thumbs: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur, edges replicated."""
    if sigma <= 0:
        return thumbs
    radius = max(1, math.ceil(3 * sigma))
    kernel = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).astype(np.float32)
    side_y, side_x = thumbs.shape[1:]
    padded = np.pad(thumbs, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    rows = sum(w * padded[:, i:i + side_y, :] for i, w in enumerate(kernel))
    return sum(w * rows[:, :, i:i + side_x] for i, w in enumerate(kernel))

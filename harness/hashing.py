"""Image fingerprints for finding copies: exact (same decoded pixels) and perceptual (same picture).

Shared by the CPMID leakage check and dataset audits. The perceptual hash is a DCT pHash computed
with numpy only (area resampling and the DCT are small matrix products, no scipy), vectorised over
a batch. Low DCT frequencies survive resizing, JPEG re-encoding and brightness/contrast changes:
brightness only moves the DC term, which is left out, and contrast scales every coefficient, which
the median threshold ignores. A hash match is a candidate; `paired_correlation` of thumbnails is
the second opinion that tells a copy from a look-alike. `thumbnail_hashes` and `translated` let a
caller hash thumbnails it prepared itself (shifted, or relative to a dataset's mean picture).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from harness.errors import MedbenchError

HASH_BITS = 64
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's convert("L")
_BRUTE_FORCE_CHUNK = 1 << 22  # XOR/popcount cells held at once (~32 MB of uint64)
_IMAGE_CHUNK = 512  # images converted to float at once
_MIN_BAND_BITS = 10  # narrower bands collide too often to prune
_MIN_PRUNING = 16  # use the band index only if it checks at most 1/16 of all pairs


def exact_hashes(images: np.ndarray) -> list[str]:
    """blake2b-128 of each image's shape, dtype and pixel bytes: equal iff the decoded pixels are equal."""
    _check_batch(images)
    header = f"{images.shape[1:]}:{images.dtype.str}".encode()
    return [hashlib.blake2b(header + np.ascontiguousarray(img).tobytes(), digest_size=16).hexdigest()
            for img in images]


def perceptual_hashes(images: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """DCT pHash per image as uint64: the hash_size×hash_size lowest frequencies of a
    (4·hash_size)² grayscale thumbnail, DC excluded, each bit set where the coefficient exceeds
    their median. With the default 8 that is 63 informative bits (the top bit is always 0)."""
    _check_batch(images)
    _check_hash_size(hash_size)
    out = np.empty(len(images), dtype=np.uint64)
    for start in range(0, len(images), _IMAGE_CHUNK):  # bounded float memory for large batches
        thumbs = _thumbnails(images[start:start + _IMAGE_CHUNK], 4 * hash_size)
        out[start:start + len(thumbs)] = thumbnail_hashes(thumbs, hash_size)
    return out


def thumbnail_hashes(thumbs: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """The pHash of (N, 4·hash_size, 4·hash_size) thumbnails made by the caller: translated ones, or
    ones relative to a dataset's mean picture (`perceptual_hashes` hashes plain ones)."""
    _check_hash_size(hash_size)
    side = 4 * hash_size
    if thumbs.ndim != 3 or thumbs.shape[1:] != (side, side):
        raise MedbenchError(f"thumbnail_hashes needs (N, {side}, {side}) thumbnails, got {thumbs.shape}")
    dct = _dct_matrix(side)[:hash_size]
    weights = np.left_shift(np.uint64(1), np.arange(hash_size * hash_size - 1, dtype=np.uint64))
    n = len(thumbs)  # dct · thumb · dctᵀ as two large matrix products (a batched einsum is 3× slower)
    rows = (np.asarray(thumbs, dtype=np.float64).reshape(n * side, side) @ dct.T).reshape(n, side, hash_size)
    low = (rows.transpose(0, 2, 1).reshape(n * hash_size, side) @ dct.T).reshape(n, hash_size, hash_size)
    low = low.transpose(0, 2, 1).reshape(n, -1)[:, 1:]
    low = np.round(low, 3)  # flat images give ties, not float-noise bits
    bits = low > np.median(low, axis=1, keepdims=True)
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def translated(thumbs: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """(N, S, S) thumbnails moved by (dy, dx) pixels, edges replicated: what a shifted copy looks like.
    Fractional moves interpolate linearly (one pixel of a 64-px image is half a thumbnail pixel)."""
    return _moved(_moved(thumbs, dy, axis=1), dx, axis=2)


def _moved(thumbs: np.ndarray, shift: float, axis: int) -> np.ndarray:
    whole = math.floor(shift)
    frac = shift - whole
    near = _moved_whole(thumbs, whole, axis)
    return near if frac < 1e-9 else (1 - frac) * near + frac * _moved_whole(thumbs, whole + 1, axis)


def _moved_whole(thumbs: np.ndarray, shift: int, axis: int) -> np.ndarray:
    if shift == 0:
        return thumbs
    size = thumbs.shape[axis]
    index = np.clip(np.arange(size) - shift, 0, size - 1)  # edge pixels repeat
    return np.take(thumbs, index, axis=axis)


def thumbnails(images: np.ndarray, side: int = 32) -> np.ndarray:
    """(N, side, side) float32 area-resampled grayscale thumbnails: what `paired_correlation` compares."""
    _check_batch(images)
    out = np.empty((len(images), side, side), dtype=np.float32)
    for start in range(0, len(images), _IMAGE_CHUNK):
        chunk = images[start:start + _IMAGE_CHUNK]
        out[start:start + len(chunk)] = _thumbnails(chunk, side)
    return out


def paired_correlation(thumbs_a: np.ndarray, thumbs_b: np.ndarray, detail: bool = False) -> np.ndarray:
    """Pearson correlation of each aligned pair of thumbnails: a second opinion on hash matches.

    At 28 px distinct chest X-rays often share a pHash within 8 bits yet correlate below ~0.95,
    while re-encoded copies correlate above ~0.97. With `detail`, thumbnails are high-passed first
    (minus their 3×3 box blur): images of a standardised anatomy (CT slices, phantoms) can correlate
    0.99 overall while differing in fine structure.
    """
    if thumbs_a.shape != thumbs_b.shape or thumbs_a.ndim != 3:
        raise MedbenchError(f"paired_correlation needs aligned (N, S, S) thumbnails, got {thumbs_a.shape} and {thumbs_b.shape}")
    a, b = (_standardised(_high_pass(t) if detail else t) for t in (thumbs_a, thumbs_b))
    return np.einsum("nk,nk->n", a, b)


def thumbnail_correlation(images_a: np.ndarray, images_b: np.ndarray, side: int = 32,
                          detail: bool = False) -> np.ndarray:
    """`paired_correlation` of two aligned image batches' thumbnails."""
    if len(images_a) != len(images_b):
        raise MedbenchError(f"thumbnail_correlation needs aligned pairs, got {len(images_a)} and {len(images_b)} images")
    return paired_correlation(thumbnails(images_a, side), thumbnails(images_b, side), detail)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance between broadcastable uint64 hash arrays."""
    return _popcount(np.bitwise_xor(a, b))


def near_duplicate_pairs(query_hashes: np.ndarray, reference_hashes: np.ndarray,
                         max_distance: int) -> list[tuple[int, int, int]]:
    """Every (query index, reference index, distance) with Hamming distance ≤ max_distance, sorted.

    Exact for the threshold: small thresholds use multi-index hashing (split the 64 bits into
    max_distance+1 bands; by pigeonhole a pair within the threshold agrees exactly on at least one
    band), verified by popcount; when the bands do not prune (narrow bands, or look-alike images
    colliding), a chunked XOR + popcount over all pairs runs instead.
    """
    query = np.asarray(query_hashes, dtype=np.uint64).ravel()
    reference = np.asarray(reference_hashes, dtype=np.uint64).ravel()
    keys = near_duplicate_keys(query, reference, max_distance)
    q_idx, r_idx = keys // max(1, len(reference)), keys % max(1, len(reference))
    dist = hamming(query[q_idx], reference[r_idx])
    return [(int(q), int(r), int(d)) for q, r, d in zip(q_idx, r_idx, dist)]


def near_duplicate_keys(query_hashes: np.ndarray, reference_hashes: np.ndarray, max_distance: int) -> np.ndarray:
    """`near_duplicate_pairs` as sorted int64 keys query·len(reference) + reference: no Python
    object per pair, for searches that find millions of candidates."""
    query = np.asarray(query_hashes, dtype=np.uint64).ravel()
    reference = np.asarray(reference_hashes, dtype=np.uint64).ravel()
    if max_distance < 0:
        raise MedbenchError(f"max_distance must be ≥ 0, not {max_distance}")
    if len(query) == 0 or len(reference) == 0:
        return np.zeros(0, dtype=np.int64)
    keys = _band_matches(query, reference, max_distance)
    return _brute_force_matches(query, reference, max_distance) if keys is None else keys


def _check_hash_size(hash_size: int) -> None:
    if not 2 <= hash_size <= 8:
        raise MedbenchError(f"hash_size must be 2..8 so the hash fits 64 bits, not {hash_size}")


def _check_batch(images: np.ndarray) -> None:
    if not isinstance(images, np.ndarray) or images.ndim not in (3, 4):
        raise MedbenchError("images must be a numpy array (N, H, W) or (N, H, W, C)")


def _grayscale(images: np.ndarray) -> np.ndarray:
    """(N, H, W[, C]) → (N, H, W) float64 luminance; gray and RGB only."""
    if images.ndim == 3:
        return images.astype(np.float64)
    channels = images.shape[3]
    if channels == 1:
        return images[..., 0].astype(np.float64)
    if channels == 3:
        return np.einsum("nhwc,c->nhw", images, _LUMA)
    raise MedbenchError(f"perceptual hashes need 1 or 3 channels, got {channels}")


def _thumbnails(images: np.ndarray, side: int) -> np.ndarray:
    """(N, side, side) float64 area-resampled grayscale thumbnails, whatever the input size."""
    gray = _grayscale(images)
    return np.einsum("ph,nhw,qw->npq", _area_matrix(gray.shape[1], side), gray,
                     _area_matrix(gray.shape[2], side), optimize=True)


def _high_pass(thumbs: np.ndarray) -> np.ndarray:
    """Each thumbnail minus its 3×3 box blur (edges replicated): the fine structure alone."""
    padded = np.pad(thumbs, ((0, 0), (1, 1), (1, 1)), mode="edge")
    side_y, side_x = thumbs.shape[1:]
    blur = sum(padded[:, dy:dy + side_y, dx:dx + side_x] for dy in range(3) for dx in range(3)) / 9.0
    return thumbs - blur


def _standardised(thumbs: np.ndarray) -> np.ndarray:
    """Flatten, subtract the mean and scale to unit length (flat images stay all-zero)."""
    flat = thumbs.reshape(len(thumbs), -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.divide(flat, norm, out=np.zeros_like(flat), where=norm > 1e-9)


def _area_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights averaging the source pixels each output pixel covers (area/box resampling)."""
    edges = np.linspace(0.0, src, dst + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(src)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II basis, rows are frequencies (what scipy.fft.dct(norm='ortho') applies)."""
    k = np.arange(n)[:, None]
    basis = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values).astype(np.int64)
    as_bytes = values[..., None].view(np.uint8)
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.int64)


def _band_matches(query: np.ndarray, reference: np.ndarray, max_distance: int) -> np.ndarray | None:
    """Sorted pair keys within the threshold, found through max_distance+1 exact-match bit bands;
    None when the bands would not prune much (then brute force is cheaper)."""
    bands = max_distance + 1
    if HASH_BITS // bands < _MIN_BAND_BITS:
        return None
    edges = np.linspace(0, HASH_BITS, bands + 1).astype(np.uint64)
    joins = [_KeyJoin(_band(query, lo, hi), _band(reference, lo, hi)) for lo, hi in zip(edges[:-1], edges[1:])]
    if sum(join.size for join in joins) > len(query) * len(reference) // _MIN_PRUNING:
        return None
    found = []
    for join in joins:
        keys = join.pair_keys(len(reference))
        near = hamming(query[keys // len(reference)], reference[keys % len(reference)]) <= max_distance
        found.append(keys[near])
    return _sorted_unique(np.concatenate(found))


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique is far slower on large int64 arrays)."""
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys


def _band(hashes: np.ndarray, lo: np.uint64, hi: np.uint64) -> np.ndarray:
    return (hashes >> lo) & np.uint64((1 << int(hi - lo)) - 1)


class _KeyJoin:
    """All (query, reference) index pairs with equal keys, by sorting the reference keys once."""

    def __init__(self, query_keys: np.ndarray, reference_keys: np.ndarray) -> None:
        self.order = np.argsort(reference_keys, kind="stable")
        sorted_keys = reference_keys[self.order]
        self.start = np.searchsorted(sorted_keys, query_keys, side="left")
        self.counts = np.searchsorted(sorted_keys, query_keys, side="right") - self.start
        self.size = int(self.counts.sum())

    def pair_keys(self, n_reference: int) -> np.ndarray:
        """Each pair as one int64, query · n_reference + reference (cheap to de-duplicate and sort)."""
        q_idx = np.repeat(np.arange(len(self.counts), dtype=np.int64), self.counts)
        offsets = np.arange(self.size) - np.repeat(np.cumsum(self.counts) - self.counts, self.counts)
        return q_idx * n_reference + self.order[np.repeat(self.start, self.counts) + offsets]


def _brute_force_matches(query: np.ndarray, reference: np.ndarray, max_distance: int) -> np.ndarray:
    """Sorted pair keys within the threshold, by XOR + popcount over chunks of query rows."""
    rows = max(1, _BRUTE_FORCE_CHUNK // len(reference))
    found = []
    for start in range(0, len(query), rows):
        xor = np.bitwise_xor(query[start:start + rows, None], reference[None, :])
        # popcount straight to uint8: widening every cell to int64 first made this 4× slower
        counts = np.bitwise_count(xor) if hasattr(np, "bitwise_count") else _popcount(xor)
        near = counts <= max_distance
        hits = np.flatnonzero(near.any(axis=1))  # nonzero over the whole block costs as much as the popcount
        q, r = np.nonzero(near[hits])
        found.append((hits[q].astype(np.int64) + start) * len(reference) + r)
    return np.concatenate(found)

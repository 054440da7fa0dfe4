"""Image fingerprints: exact hashes track pixels, pHashes survive re-encoding, the pair search is exact."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.errors import MedbenchError
from harness.hashing import exact_hashes, near_duplicate_pairs, perceptual_hashes, thumbnail_correlation

THRESHOLD = 8  # the recipes' near_duplicate_max_distance
MIN_CORRELATION = 0.95  # and their near_duplicate_min_correlation


def degrade(img: np.ndarray, scale: float = 1.6, quality: int = 75, brightness: int = 12,
            contrast: float = 1.1) -> np.ndarray:
    """Resize, JPEG re-encode, resize back and shift brightness/contrast: a typical re-published copy."""
    pil = Image.fromarray(img.squeeze())
    w, h = pil.size
    pil = pil.resize((max(8, round(w * scale)), max(8, round(h * scale))), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    pil.convert("RGB" if img.ndim == 3 and img.shape[-1] == 3 else "L").save(buf, "JPEG", quality=quality)
    back = np.asarray(Image.open(buf).resize((w, h), Image.Resampling.BICUBIC)).astype(np.float64)
    out = np.clip((back - 128) * contrast + 128 + brightness, 0, 255).astype(np.uint8)
    return out.reshape(img.shape)


def smooth_images(n: int, size: int = 48, seed: int = 0) -> np.ndarray:
    """Random smooth gray pictures (blobs at random places): distinct, but natural-looking at low frequency."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(n, 6, 6))
    up = np.asarray([np.asarray(Image.fromarray(c.astype(np.float32), "F").resize((size, size), Image.Resampling.BICUBIC))
                     for c in coarse])
    up = (up - up.min(axis=(1, 2), keepdims=True)) / np.ptp(up, axis=(1, 2), keepdims=True)
    return (up * 255).astype(np.uint8)[..., None]


def kvasir_images(shared: Path, n: int = 40, size: int = 96) -> np.ndarray:
    paths = sorted((shared / "kvasir_seg_200" / "images").glob("*.jpg"))[:n]
    if len(paths) < n:
        pytest.skip(f"fewer than {n} Kvasir-SEG images under {shared}")
    return np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
                     for p in paths])


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a ^ b) if hasattr(np, "bitwise_count") else np.array(
        [bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b)])


def test_exact_hashes_equal_iff_pixels_equal():
    images = smooth_images(4)
    copy = images.copy()
    copy[2, 5, 5, 0] ^= 1  # one pixel, one bit
    a, b = exact_hashes(images), exact_hashes(copy)
    assert [x == y for x, y in zip(a, b)] == [True, True, False, True]
    assert len(set(a)) == 4
    # same bytes, different shape: not the same image
    assert exact_hashes(images[:1].reshape(1, 24, 96, 1)) != exact_hashes(images[:1])


def test_perceptual_hash_is_vectorised_and_deterministic():
    images = smooth_images(10)
    hashes = perceptual_hashes(images)
    assert hashes.dtype == np.uint64 and hashes.shape == (10,)
    assert np.array_equal(hashes, np.concatenate([perceptual_hashes(images[i:i + 1]) for i in range(10)]))
    assert (hashes >> np.uint64(63)).max() == 0  # 63 bits: the DC term is left out
    gray, rgb = perceptual_hashes(images), perceptual_hashes(np.repeat(images, 3, axis=3))
    assert np.array_equal(gray, rgb)


def test_flat_images_hash_to_zero_not_noise():
    flat = np.stack([np.full((32, 32, 1), value, np.uint8) for value in (0, 128, 255)])
    assert perceptual_hashes(flat).tolist() == [0, 0, 0]


def near_copies(images: np.ndarray) -> list[tuple[int, int]]:
    """Distinct index pairs that pass the recipes' rule: pHash within THRESHOLD and correlation ≥ MIN_CORRELATION."""
    hashes = perceptual_hashes(images)
    pairs = [(q, r) for q, r, _ in near_duplicate_pairs(hashes, hashes, THRESHOLD) if q < r]
    if not pairs:
        return []
    q, r = map(np.array, zip(*pairs))
    return [p for p, c in zip(pairs, thumbnail_correlation(images[q], images[r])) if c >= MIN_CORRELATION]


def test_degraded_copy_is_near_and_distinct_images_are_far():
    images = smooth_images(60)
    hashes = perceptual_hashes(images)
    degraded = np.stack([degrade(img) for img in images])
    assert distances(hashes, perceptual_hashes(degraded)).max() <= THRESHOLD
    assert thumbnail_correlation(images, degraded).min() >= MIN_CORRELATION
    assert [(q, r) for q, r, _ in near_duplicate_pairs(hashes, hashes, THRESHOLD) if q != r] == []


def test_real_photos_survive_reencoding_and_stay_apart(shared_data: Path):
    images = kvasir_images(shared_data)
    degraded = np.stack([degrade(img, scale=0.7, quality=70, brightness=-10) for img in images])
    assert distances(perceptual_hashes(images), perceptual_hashes(degraded)).max() <= THRESHOLD
    assert thumbnail_correlation(images, degraded).min() >= MIN_CORRELATION
    assert near_copies(images) == [], "distinct colonoscopy frames should not be near copies"


def test_real_xrays_survive_reencoding_and_look_alikes_stay_apart(shared_data: Path):
    path = shared_data / "medmnist" / "pneumoniamnist.npz"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with np.load(path) as npz:
        images = npz["test_images"][:300, ..., None]
    degraded = np.stack([degrade(img, scale=2.0, quality=80, brightness=8) for img in images])
    assert np.mean(distances(perceptual_hashes(images), perceptual_hashes(degraded)) <= THRESHOLD) >= 0.99
    assert thumbnail_correlation(images, degraded).min() >= MIN_CORRELATION
    # distinct 28-px chest X-rays often share a pHash within the threshold; the correlation rejects nearly
    # all of them (on this sample one pair of very similar films, maybe the same patient, still passes)
    hashes = perceptual_hashes(images)
    hash_only = [(q, r) for q, r, _ in near_duplicate_pairs(hashes, hashes, THRESHOLD) if q < r]
    look_alikes = [(q, r) for q, r in near_copies(images) if not np.array_equal(images[q], images[r])]
    assert len(hash_only) > 20 * max(1, len(look_alikes))
    assert len(look_alikes) <= 3


@pytest.mark.parametrize("max_distance", [0, 2, 4, 5, 6, 9])
def test_pair_search_matches_brute_force(max_distance: int):
    rng = np.random.default_rng(max_distance)
    query = rng.integers(0, 2**63, 700, dtype=np.uint64)
    reference = rng.integers(0, 2**63, 900, dtype=np.uint64)
    flips = rng.integers(0, 63, (300, 8))
    for i, bits in enumerate(flips):  # plant neighbours at every distance 0..8
        reference[i] = query[i] ^ np.uint64(sum(1 << int(b) for b in set(bits[: i % 9])))
    reference[300:320] = reference[0]  # repeated reference hashes
    found = near_duplicate_pairs(query, reference, max_distance)
    full = distances(query[:, None], reference[None, :])
    expected = [(int(q), int(r), int(full[q, r])) for q, r in zip(*np.nonzero(full <= max_distance))]
    assert found == expected


def test_pair_search_handles_look_alikes_and_empty_inputs():
    many_equal = np.zeros(3000, dtype=np.uint64)  # every band collides: the search falls back to brute force
    assert len(near_duplicate_pairs(many_equal[:50], many_equal, 2)) == 50 * 3000
    assert near_duplicate_pairs(np.zeros(0, np.uint64), many_equal, 3) == []
    with pytest.raises(MedbenchError, match="max_distance"):
        near_duplicate_pairs(many_equal, many_equal, -1)

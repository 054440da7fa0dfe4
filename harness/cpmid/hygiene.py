"""Which candidates may join the set: no downstream val/test image, no copy of an image already in.

Candidates are screened one at a time in a fixed order (sources in recipe order, each in its seeded
order), with reasons checked in this priority:
  1. leakage — same pixels as, or a near copy of, a val or test image of an excluded task;
  2. exact_duplicate — same decoded, resized pixels as an image already kept;
  3. near_duplicate — a near copy of an image already kept.
"Near" means a pHash within `max_distance` bits AND 32×32 gray thumbnails correlating at least
`min_correlation`: the hash finds candidates fast, the correlation rejects look-alikes (at 28 px
distinct chest X-rays often share a hash within 8 bits). Near duplicates inside the set must also
match in fine structure (`min_detail_correlation`), because distinct slices of a standardised
anatomy correlate ~0.99 overall; the leakage check leaves that out, so it errs towards dropping a
look-alike rather than keeping a copy of a test image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness.cpmid.pixels import conform
from harness.cpmid.shards import Staging
from harness.hashing import (
    exact_hashes,
    near_duplicate_pairs,
    paired_correlation,
    perceptual_hashes,
    thumbnails,
)
from harness.tasks import get_task

REASONS = ("leakage", "exact_duplicate", "near_duplicate")
EXACT_HASH = "blake2b-128 of shape, dtype and pixel bytes after resizing and the channel policy"
PERCEPTUAL_HASH = "DCT pHash: 8×8 lowest frequencies of a 32×32 area-resampled gray thumbnail, DC excluded, median threshold (63 bits)"
_CONFIRM_BATCH = 4096
THUMB = 32  # thumbnail side for the correlation checks

Thumbs = Callable[[np.ndarray], np.ndarray]  # indices → (n, THUMB, THUMB) float32 thumbnails


@dataclass(frozen=True)
class Prints:
    exact: list[str]
    perceptual: np.ndarray
    thumbs: np.ndarray


def fingerprint(images: np.ndarray) -> Prints:
    return Prints(exact_hashes(images), perceptual_hashes(images), thumbnails(images, THUMB))


@dataclass(frozen=True)
class MatchRule:
    max_distance: int
    min_correlation: float
    min_detail_correlation: float | None = None  # None: fine structure is not compared

    def near_pairs(self, prints: Prints, reference_hashes: np.ndarray,
                   reference_thumbs: Thumbs) -> list[tuple[int, int, int]]:
        """(query, reference, distance) pairs that are near copies by hash and correlation(s)."""
        pairs = near_duplicate_pairs(prints.perceptual, reference_hashes, self.max_distance)
        confirmed = []
        for start in range(0, len(pairs), _CONFIRM_BATCH):
            batch = pairs[start:start + _CONFIRM_BATCH]
            a = prints.thumbs[np.array([p[0] for p in batch])]
            b = reference_thumbs(np.array([p[1] for p in batch]))
            ok = paired_correlation(a, b) >= self.min_correlation
            if self.min_detail_correlation is not None and ok.any():
                ok[ok] = paired_correlation(a[ok], b[ok], detail=True) >= self.min_detail_correlation
            confirmed.extend(p for p, keep in zip(batch, ok) if keep)
        return confirmed


@dataclass(frozen=True)
class Leak:
    task: str
    split: str
    index: int
    match: str  # "exact" or "near"
    distance: int


class LeakageIndex:
    """The val and test images of every excluded task, in the set's pixel format."""

    def __init__(self, images: np.ndarray, owners: list[tuple[str, str, int]], rule: MatchRule,
                 not_screened: dict[str, str] | None = None) -> None:
        self.owners = owners
        self.rule = rule
        self.not_screened = not_screened or {}  # excluded task → where its absent data was expected
        self.prints = fingerprint(images)
        self.by_exact: dict[str, list[int]] = {}
        for i, digest in enumerate(self.prints.exact):
            self.by_exact.setdefault(digest, []).append(i)

    @classmethod
    def from_tasks(cls, names: tuple[str, ...], data_dir: Path | None, size: int, channels: int,
                   rule: MatchRule) -> "LeakageIndex":
        """Tasks whose data are absent cannot be screened: they are recorded as such, not silently passed."""
        images, owners, absent = [np.zeros((0, size, size, channels), np.uint8)], [], {}
        for name in names:
            spec = get_task(name)
            status = spec.status(data_dir)
            if status.state in ("missing", "downloadable"):
                absent[name] = status.where
                continue
            data = spec.load(data_dir)
            for split in ("val", "test"):
                images.append(conform(data.split(split).images, size, channels))
                owners.extend((name, split, i) for i in range(len(data.split(split))))
        return cls(np.concatenate(images), owners, rule, absent)

    def counts(self) -> dict[str, int]:
        """Reference images per excluded task."""
        out: dict[str, int] = {}
        for task, _, _ in self.owners:
            out[task] = out.get(task, 0) + 1
        return out

    def matches(self, prints: Prints) -> list[list[Leak]]:
        """For each candidate, the downstream images it copies (exact matches first)."""
        found: list[list[Leak]] = [[] for _ in range(len(prints.exact))]
        for i, digest in enumerate(prints.exact):
            found[i].extend(self._leak(j, "exact", 0) for j in self.by_exact.get(digest, ()))
        near = self.rule.near_pairs(prints, self.prints.perceptual, self.prints.thumbs.__getitem__)
        for i, j, dist in near:
            if j not in self.by_exact.get(prints.exact[i], ()):
                found[i].append(self._leak(j, "near", dist))
        return found

    def _leak(self, j: int, match: str, distance: int) -> Leak:
        task, split, index = self.owners[j]
        return Leak(task, split, index, match, distance)


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: kept
    leaks: tuple[Leak, ...] = ()


class Screen:
    """Decides, candidate by candidate, what is kept; kept pixels and thumbnails go to staging."""

    def __init__(self, rule: MatchRule, leakage: LeakageIndex, images: Staging, thumbs: Staging) -> None:
        """`rule` decides near duplicates among kept images; `leakage` carries its own rule."""
        self.rule = rule
        self.leakage = leakage
        self.images = images
        self.thumbs = thumbs
        self.kept_exact: set[str] = set()
        self.kept_hashes: list[np.ndarray] = [np.zeros(0, np.uint64)]

    def screen(self, images: np.ndarray) -> list[Verdict]:
        """Screen one chunk (already in the set's pixel format) after everything screened before."""
        prints = fingerprint(images)
        leaks = self.leakage.matches(prints)
        near_kept = {q for q, _, _ in self.rule.near_pairs(prints, np.concatenate(self.kept_hashes), self.thumbs.read)}
        near_earlier: dict[int, list[int]] = {}
        for q, r, _ in self.rule.near_pairs(prints, prints.perceptual, prints.thumbs.__getitem__):
            if r < q:
                near_earlier.setdefault(q, []).append(r)
        keep = np.zeros(len(images), dtype=bool)
        verdicts = []
        for i, digest in enumerate(prints.exact):
            reason = ("leakage" if leaks[i] else
                      "exact_duplicate" if digest in self.kept_exact else
                      "near_duplicate" if i in near_kept or keep[near_earlier.get(i, [])].any() else None)
            if reason is None:
                keep[i] = True
                self.kept_exact.add(digest)
            verdicts.append(Verdict(reason, tuple(leaks[i])))
        self.kept_hashes.append(prints.perceptual[keep])
        self.images.append(images[keep])
        self.thumbs.append(prints.thumbs[keep])
        return verdicts

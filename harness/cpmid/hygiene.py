"""Which candidates may join the set: no downstream val/test image, no copy of an image already in.

Candidates are screened one at a time in a fixed order (sources in recipe order, each in its seeded
order), with reasons checked in this priority:
  1. leakage — same pixels as, or a copy of, a val or test image of an excluded task;
  2. exact_duplicate — same decoded, resized pixels as an image already kept;
  3. near_duplicate — a copy of an image already kept.
"Copy" is decided by the shared matcher (`harness.copies`): resized, squashed, cropped, re-encoded,
toned, flipped or rotated copies count, whichever of the two pictures is the crop of the other.
The leakage check uses the matcher's calibrated rule; deduplication inside the set uses the
recipe's thresholds on the same matcher. Candidates are labelled by recipe source and reference
images by task, so a pair is compared net of its own source's shared anatomy, not of a mix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from harness.copies import Catalogue, CopyRule, Reference, copy_pairs, pairs_between
from harness.copies.views import WORK
from harness.cpmid.pixels import conformed
from harness.cpmid.shards import Staging
from harness.data import data_status, load_data
from harness.data.rows import RowSpool, take_rows
from harness.tasks import get_task

REASONS = ("leakage", "exact_duplicate", "near_duplicate")
EXACT_HASH = "blake2b-128 of shape and pixel bytes after resizing and the channel policy"


@dataclass(frozen=True)
class Leak:
    task: str
    split: str
    index: int
    match: str  # "exact", "near" or "transformed"
    score: float  # the matcher's verified correlation (1.0 for exact copies)


SEGMENT_PICTURES = 4096  # kept pictures indexed together (see Screen)


class LeakageIndex:
    """The val and test images of every excluded task, in the set's pixel format."""

    def __init__(self, images: Iterable[np.ndarray], owners: list[tuple[str, str, int]], rule: CopyRule,
                 not_screened: dict[str, str] | None = None) -> None:
        self.owners = owners
        self.rule = rule
        self.not_screened = not_screened or {}  # excluded task → where its absent data was expected
        tasks = np.unique([task for task, _, _ in owners], return_inverse=True)[1].reshape(-1).astype(np.int64)
        # each task is its own source; prepared once: every chunk is matched against it
        self.reference = Reference(replace(Catalogue.of(images), sources=tasks), rule)

    @classmethod
    def from_tasks(cls, names: tuple[str, ...], data_dir: Path | None, size: int, channels: int,
                   rule: CopyRule) -> "LeakageIndex":
        """Tasks whose data are absent cannot be screened: they are recorded as such, not silently passed."""
        images: list[Iterator[np.ndarray]] = []
        owners, absent = [], {}
        for name in names:
            spec = get_task(name)
            status = data_status(spec, data_dir)
            if status.state in ("missing", "downloadable"):
                absent[name] = status.where
                continue
            data = load_data(spec, data_dir)
            for split in ("val", "test"):
                images.append(conformed(data.split(split).images, size, channels))
                owners.extend((name, split, i) for i in range(len(data.split(split))))
        return cls(itertools.chain.from_iterable(images), owners, rule, absent)

    def counts(self) -> dict[str, int]:
        """Reference images per excluded task."""
        out: dict[str, int] = {}
        for task, _, _ in self.owners:
            out[task] = out.get(task, 0) + 1
        return out

    def matches(self, candidates: Catalogue) -> list[list[Leak]]:
        """For each candidate, the downstream images it copies (exact matches first)."""
        found: list[list[Leak]] = [[] for _ in range(len(candidates))]
        for pair in sorted(pairs_between(candidates, self.reference, self.rule), key=lambda p: p.kind != "exact"):
            task, split, index = self.owners[pair.reference]
            found[pair.query].append(Leak(task, split, index, pair.kind, pair.score))
        return found


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None: kept
    leaks: tuple[Leak, ...] = ()


class Screen:
    """Decides, candidate by candidate, what is kept; kept pictures go to staging.

    Each chunk is matched against every image kept before it. Kept pictures form segments of at most
    SEGMENT_PICTURES: the open one is indexed again for each chunk with its own mean embedding (as the
    whole kept set was before segments existed, so sets below that size screen exactly as before); a
    full one is prepared once — crop-view index and oriented query embeddings, on disk — with the mean
    embedding of the first full segment, which all full segments share, so each chunk is embedded and
    indexed once for all of them. Screening n images thus costs n·SEGMENT_PICTURES/chunk index work
    and n²/chunk retrievals (each kept picture's stored embeddings searched in the chunk's index),
    not n²/chunk embeddings and index builds."""

    def __init__(self, rule: CopyRule, leakage: LeakageIndex, images: Staging) -> None:
        """`rule` decides near duplicates among kept images; `leakage` carries its own rule."""
        self.rule = rule
        self.leakage = leakage
        self.images = images
        self.kept_exact: set[str] = set()
        self.kept = Catalogue.of([])  # every kept picture, in order (the build's fingerprints)
        self._kept_work = RowSpool((WORK, WORK), np.uint8)  # grows in place (on disk once large)
        self._kept_sources: list[np.ndarray] = []
        self._full: list[Reference] = []  # full segments, indexed once
        self._open_from = 0  # where the open segment starts in `kept`

    def screen(self, images: np.ndarray, source: int) -> list[Verdict]:
        """Screen one chunk of one source (already in the set's pixel format) after everything screened before."""
        chunk = Catalogue.of(images, source)
        leaks = self.leakage.matches(chunk)
        near_kept = {p.query for p in pairs_between(chunk, self._open_segment(), self.rule)}
        if self._full:
            prepared = Reference(chunk, self.rule, mean=self._full[0].mean, keep_queries=True)
            near_kept |= {p.query for segment in self._full for p in pairs_between(prepared, segment, self.rule)}
        near_earlier: dict[int, list[int]] = {}
        for p in copy_pairs(chunk, self.rule):
            near_earlier.setdefault(p.reference, []).append(p.query)
        keep = np.zeros(len(images), dtype=bool)
        verdicts = []
        for i, digest in enumerate(chunk.digests):
            reason = ("leakage" if leaks[i] else
                      "exact_duplicate" if digest in self.kept_exact else
                      "near_duplicate" if i in near_kept or keep[near_earlier.get(i, [])].any() else None)
            if reason is None:
                keep[i] = True
                self.kept_exact.add(digest)
            verdicts.append(Verdict(reason, tuple(leaks[i])))
        self._keep(chunk.subset(keep))
        self.images.append(images[keep])
        return verdicts

    def _open_segment(self) -> Catalogue:
        rows = np.arange(self._open_from, len(self.kept))
        return Catalogue(take_rows(self.kept.work, rows), self.kept.digests[self._open_from:], self.kept.sources[rows])

    def _keep(self, added: Catalogue) -> None:
        self._kept_work.append(np.asarray(added.work))
        self._kept_sources.append(added.sources)
        self.kept = Catalogue(self._kept_work.rows(), self.kept.digests + added.digests, np.concatenate(self._kept_sources))
        if len(self.kept) - self._open_from >= SEGMENT_PICTURES:
            shared = self._full[0].mean if self._full else None  # the first full segment's own mean
            self._full.append(Reference(self._open_segment(), self.rule, spill_bytes=0, mean=shared,
                                        keep_queries=True))  # many are kept: on disk
            self._open_from = len(self.kept)

"""Find copies: retrieve candidates by embedding, confirm them by aligned correlation.

Each picture is held as a 64-px gray working image (`views`). The reference side is indexed under
several crop views (center and corner crops, one-side squashes), each embedding minus the mean
embedding, so look-alikes of a standardised anatomy do not crowd out the copy; a query is searched
in its 8 dihedral orientations, so flips and 90° rotations meet their original. Candidates are then
verified (`verify`): the crop box on the indexed side is refined by coordinate search, and the pair
is a copy when the lightly blurred canvases correlate at least `min_correlation` and their
band-passed versions at least `min_detail_correlation` (layout alone does not pass the second test),
with each source's mean picture subtracted in either picture's frame.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Iterator

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from harness.copies.index import VectorIndex
from harness.copies.rule import DEFAULT_RULE, CopyPair, CopyRule
from harness.copies.verify import refine, second_opinion
from harness.copies.views import (
    CANVAS, FULL, LOW, ORIENTATIONS, WORK, as_images, box_resamplers, canvases, embedding, exact_digest, oriented,
    resampled, standardised, working_image,
)
from harness.data.rows import SPILL_BYTES, RowSpool, StoredRows, chunks_of, take_rows

_EMBED_CHUNK = 1024  # images embedded at once
_POOL_MIN = 64  # pictures below which fingerprinting stays on this thread
_VIEW_CHUNK = 128  # pictures cut into their crop views at once (each view is a float canvas: ~1 MB a picture in flight)
_VERIFY_CHUNK = 1024  # candidate pairs verified at once
_VIEWS_PER_CANDIDATE = 6  # vectors retrieved per candidate picture wanted
MIN_POPULATION = 50  # below this the mean picture is mostly the pictures themselves: not subtracted
_NEAR_BOX = 0.04  # a match whose box is this close to the whole picture is "near", not "transformed"


@dataclass
class Catalogue:
    """What the matcher keeps of a set of pictures: working images and exact digests (4 KB each), and
    which source each picture came from (a source's pictures share an anatomy that a set mixing
    sources does not: verification subtracts each source's own mean picture). Working images of a
    large set move to a spill file (`RowSpool`) and are read back by rows, so memory stays flat."""

    work: np.ndarray | StoredRows  # (n, WORK, WORK) uint8
    digests: list[str]
    sources: np.ndarray  # (n,) int label of each picture's source

    @classmethod
    def of(cls, images: Iterable[np.ndarray] | np.ndarray | StoredRows, source: int = 0) -> "Catalogue":
        work, digests = RowSpool((WORK, WORK), np.uint8), []
        with ThreadPoolExecutor(max_workers=len(os.sched_getaffinity(0))) as pool:  # PIL and hashlib release the GIL
            for batch in _batches(as_images(images), _EMBED_CHUNK):
                fingerprints = list(pool.map(_fingerprint, batch)) if len(batch) >= _POOL_MIN else list(map(_fingerprint, batch))
                work.append(np.stack([w for w, _ in fingerprints]))
                digests += [d for _, d in fingerprints]
        return cls(work.rows(), digests, np.full(len(digests), source, np.int64))

    @classmethod
    def joined(cls, parts: list["Catalogue"]) -> "Catalogue":
        """One catalogue of several (each keeps its pictures' sources)."""
        work = RowSpool((WORK, WORK), np.uint8)
        for part in parts:
            for _, chunk in chunks_of(part.work):
                work.append(chunk)
        return cls(work.rows(), [d for p in parts for d in p.digests],
                   np.concatenate([p.sources for p in parts] or [np.zeros(0, np.int64)]))

    def subset(self, keep: np.ndarray) -> "Catalogue":
        return Catalogue(take_rows(self.work, np.flatnonzero(keep)), [d for d, k in zip(self.digests, keep) if k],
                         self.sources[keep])

    def __len__(self) -> int:
        return len(self.digests)


def _fingerprint(image: np.ndarray) -> tuple[np.ndarray, str]:
    return working_image(image), exact_digest(image)


def _batches(items: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def view_boxes(rule: CopyRule) -> np.ndarray:
    """(V, 4) crop boxes (y0, y1, x0, x1) indexed per reference picture; the whole picture first."""
    boxes = [FULL]
    for fy in rule.crop_fractions:
        for fx in rule.crop_fractions:
            if (fy, fx) != (1.0, 1.0):
                boxes.append(_centred(fy, fx))
    for f in rule.crop_fractions:
        if f < 1.0:  # corners and edge middles
            boxes += [np.array([y, y + f, x, x + f]) for y in (0.0, (1 - f) / 2, 1 - f) for x in (0.0, (1 - f) / 2, 1 - f)
                      if (y, x) != ((1 - f) / 2, (1 - f) / 2)]
    for f in rule.squash_fractions:
        boxes += [_centred(1.0, f), _centred(f, 1.0)]
    return np.stack(boxes)


def copies_in(queries: Iterable[np.ndarray] | np.ndarray, reference: Iterable[np.ndarray] | np.ndarray,
              rule: CopyRule = DEFAULT_RULE) -> list[CopyPair]:
    """Every (query, reference) pair where one picture is a copy of the other (either may be the
    crop of the other), best match per pair, sorted by query then reference."""
    return pairs_between(Catalogue.of(queries), Catalogue.of(reference), rule)


def pairs_between(queries: "Catalogue | Reference", reference: "Catalogue | Reference",
                  rule: CopyRule = DEFAULT_RULE) -> list[CopyPair]:
    """`copies_in` on catalogues already made (so callers that match one set many times embed it once);
    a `Reference` (made once with the same rule) also keeps its retrieval index and query embeddings.
    Queries given as a `Reference` with the reference's mean embedding are used as prepared (one
    chunk matched against many references that share a mean is embedded and indexed once)."""
    ref = reference if isinstance(reference, Reference) else Reference(reference, rule)
    if ref.rule != rule:
        raise ValueError("a Reference is prepared for one CopyRule; prepare it again for this one")
    prepared = isinstance(queries, Reference) and queries.rule == rule and np.array_equal(queries.mean, ref.mean)
    qry = queries if prepared else Reference(queries.catalogue if isinstance(queries, Reference) else queries,
                                             rule, mean=ref.mean)
    if not len(qry.catalogue) or not len(ref.catalogue):
        return []
    found = _exact_pairs(qry.catalogue.digests, ref.catalogue.digests)
    exact = {(p.query, p.reference) for p in found}
    forward = _verified(qry.catalogue, qry.queries(), qry.mean_picture, ref.catalogue, ref.views, ref.mean_picture, rule)
    backward = _verified(ref.catalogue, ref.queries(), ref.mean_picture, qry.catalogue, qry.views, qry.mean_picture, rule)
    merged: dict[tuple[int, int], CopyPair] = {}
    for q, r, score, kind, detail in forward:
        merged[q, r] = CopyPair(q, r, score, kind, detail)
    for r, q, score, kind, detail in backward:
        if (q, r) not in merged or merged[q, r].score < score:
            merged[q, r] = CopyPair(q, r, score, kind, detail)
    found += [pair for key, pair in merged.items() if key not in exact]
    return sorted(found, key=lambda p: (p.query, p.reference))


class Reference:
    """A set prepared for many `pairs_between` calls: its mean embedding, crop-view index, mean
    picture and oriented query embeddings are computed once (the CPMID leakage check matches every
    chunk of candidates against the same downstream images)."""

    def __init__(self, catalogue: Catalogue, rule: CopyRule = DEFAULT_RULE, spill_bytes: int = SPILL_BYTES,
                 mean: np.ndarray | None = None, keep_queries: bool = False) -> None:
        """`spill_bytes`: above this its crop-view vectors (and kept query embeddings) live on disk (0:
        always; for a caller that keeps many). `mean`: the embedding subtracted, when not the set's own
        (sets matched against one another need the same one). `keep_queries`: compute the query
        embeddings once and keep them (2 KB a picture) instead of at each use."""
        self.catalogue = catalogue
        self.rule = rule
        self.mean = _mean_embedding(catalogue) if mean is None else mean
        self.spill_bytes = spill_bytes
        self.keep_queries = keep_queries

    @cached_property
    def views(self) -> "_ViewIndex":
        return _ViewIndex(self.catalogue, self.mean, self.rule, self.spill_bytes)

    @cached_property
    def mean_picture(self) -> "_MeanPictures":
        return _mean_picture(self.catalogue)

    def queries(self) -> Iterator[np.ndarray]:
        """Per `_EMBED_CHUNK` pictures, their oriented query embeddings (see `_query_embeddings`)."""
        if not self.keep_queries:
            return _query_embeddings(self.catalogue, self.mean)
        stored, bounds = self._kept_queries
        return (np.asarray(stored[a:b]) for a, b in zip(bounds[:-1], bounds[1:]))

    @cached_property
    def _kept_queries(self) -> tuple[np.ndarray | StoredRows, list[int]]:
        spool, bounds = RowSpool((LOW * LOW - 1,), np.float32, self.spill_bytes), [0]
        for block in _query_embeddings(self.catalogue, self.mean):
            spool.append(block)
            bounds.append(bounds[-1] + len(block))
        return spool.rows(), bounds


def copy_pairs(images: Iterable[np.ndarray] | np.ndarray | Catalogue, rule: CopyRule = DEFAULT_RULE) -> list[CopyPair]:
    """Every pair of copies within one set, once each as (smaller index, larger index)."""
    catalogue = images if isinstance(images, Catalogue) else Catalogue.of(images)
    if len(catalogue) < 2:
        return []
    found = {}
    for members in same_digest(catalogue.digests):
        for j in members[1:]:
            found[members[0], j] = CopyPair(members[0], j, 1.0, "exact")
    ref = Reference(catalogue, rule)
    for a, b, score, kind, detail in _verified(catalogue, ref.queries(), ref.mean_picture, catalogue, ref.views,
                                               ref.mean_picture, rule):
        key = (min(a, b), max(a, b))
        if a != b and catalogue.digests[a] != catalogue.digests[b] and (key not in found or found[key].score < score):
            found[key] = CopyPair(*key, score, kind, detail)
    return sorted(found.values(), key=lambda p: (p.query, p.reference))


def same_digest(digests: list[str]) -> list[list[int]]:
    """Positions sharing a digest, groups of two or more, in order of their first member (sorted, not a dict of
    every picture: memory stays at a few bytes a picture)."""
    keys = np.array(digests)
    order = np.argsort(keys, kind="stable")
    cuts = np.flatnonzero(keys[order][1:] != keys[order][:-1]) + 1
    groups = [sorted(run.tolist()) for run in np.split(order, cuts) if len(run) > 1]
    return sorted(groups, key=lambda g: g[0])


def copy_clusters(images: Iterable[np.ndarray] | np.ndarray | Catalogue, rule: CopyRule = DEFAULT_RULE) -> np.ndarray:
    """A cluster id per image, numbered in order of first appearance: equal ids ⇔ linked by copies."""
    catalogue = images if isinstance(images, Catalogue) else Catalogue.of(images)
    return clusters_of(len(catalogue), copy_pairs(catalogue, rule))


def clusters_of(n: int, pairs: list[CopyPair]) -> np.ndarray:
    """Connected components of the copy graph, numbered by first member."""
    if n == 0:
        return np.zeros(0, np.int64)
    a = np.array([p.query for p in pairs], dtype=np.int64)
    b = np.array([p.reference for p in pairs], dtype=np.int64)
    _, labels = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    _, first = np.unique(labels, return_index=True)
    renumber = np.empty(len(first), np.int64)
    renumber[np.argsort(np.argsort(first))] = np.arange(len(first))
    return renumber[labels]


def _centred(fy: float, fx: float) -> np.ndarray:
    return np.array([(1 - fy) / 2, (1 + fy) / 2, (1 - fx) / 2, (1 + fx) / 2])


def _exact_pairs(queries: list[str], reference: list[str]) -> list[CopyPair]:
    where: dict[str, list[int]] = {}
    for j, digest in enumerate(reference):
        where.setdefault(digest, []).append(j)
    return [CopyPair(i, j, 1.0, "exact") for i, digest in enumerate(queries) for j in where.get(digest, ())]


def _mean_embedding(catalogue: Catalogue) -> np.ndarray:
    """The mean embedding of the catalogue's whole pictures: what all its pictures share."""
    total = np.zeros(LOW * LOW - 1, np.float64)
    for s in range(0, len(catalogue), _EMBED_CHUNK):
        total += embedding(canvases(catalogue.work[s:s + _EMBED_CHUNK], FULL)).sum(axis=0, dtype=np.float64)
    return (total / max(1, len(catalogue))).astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norm, out=np.zeros_like(vectors), where=norm > 1e-6)


def _view_embeddings(catalogue: Catalogue, boxes: np.ndarray, mean: np.ndarray,
                     spill_bytes: int = SPILL_BYTES) -> np.ndarray | StoredRows:
    """(n·V, d) unit embeddings, picture-major: row i·V + v is view v of picture i (on disk past `spill_bytes`)."""
    rows, cols = box_resamplers(boxes, len(boxes))
    out = RowSpool((LOW * LOW - 1,), np.float32, spill_bytes)
    for s in range(0, len(catalogue), _VIEW_CHUNK):
        views = resampled(catalogue.work[s:s + _VIEW_CHUNK][:, None], rows, cols).reshape(-1, CANVAS, CANVAS)
        out.append(_unit(embedding(views) - mean))
    return out.rows()


class _ViewIndex:
    """A catalogue's crop views (`view_boxes`), embedded minus `mean` and indexed for retrieval."""

    def __init__(self, catalogue: Catalogue, mean: np.ndarray, rule: CopyRule, spill_bytes: int = SPILL_BYTES) -> None:
        self.boxes = view_boxes(rule)
        self.index = VectorIndex(_view_embeddings(catalogue, self.boxes, mean, spill_bytes), rule.nprobe,
                                 spill_bytes=spill_bytes)


def _query_embeddings(catalogue: Catalogue, mean: np.ndarray) -> Iterator[np.ndarray]:
    """Per `_EMBED_CHUNK` pictures, their whole pictures' unit embeddings minus `mean` in the 8
    orientations, orientation-major: row o·len(chunk) + i is picture i turned by o."""
    for s in range(0, len(catalogue), _EMBED_CHUNK):
        full = canvases(catalogue.work[s:s + _EMBED_CHUNK], FULL)
        yield np.concatenate([_unit(embedding(oriented(full, o)) - mean) for o in range(ORIENTATIONS)])


def _verified(a: Catalogue, a_queries: Iterable[np.ndarray], a_mean_picture: "_MeanPictures", b: Catalogue,
              b_views: _ViewIndex, b_mean_picture: "_MeanPictures", rule: CopyRule) -> list[tuple[int, int, float, str, float]]:
    """(a index, b index, score, kind, detail score): a's whole pictures, oriented (`a_queries`),
    against b's crop views (`b_views`); a pair that passes is scored again with a's mean picture
    (`second_opinion`) and keeps the lower scores."""
    boxes = b_views.boxes
    out = []
    for s, queries in zip(range(0, len(a), _EMBED_CHUNK), a_queries):
        n = len(queries) // ORIENTATIONS
        # one picture's views crowd each other (and, within one set, the query's own views come first)
        wanted = rule.candidates * _VIEWS_PER_CANDIDATE + (len(boxes) if a is b else 0)
        rows, hits, scores = b_views.index.search(queries, wanted)
        a_idx = rows % n + s
        orient = rows // n
        b_idx, view = hits // len(boxes), hits % len(boxes)
        a_idx, b_idx, orient, view, scores = _best_candidates(a_idx, b_idx, orient, view, scores, rule)
        if a is b:
            keep = a_idx != b_idx
            a_idx, b_idx, orient, view = a_idx[keep], b_idx[keep], orient[keep], view[keep]
        for v in range(0, len(a_idx), _VERIFY_CHUNK):
            part = slice(v, v + _VERIFY_CHUNK)
            corr, detail, box = refine(a.work[a_idx[part]], orient[part], b.work[b_idx[part]], boxes[view[part]],
                                        b_mean_picture[b_idx[part]], rule)
            ok = np.flatnonzero((corr >= rule.min_correlation) & (detail >= rule.min_detail_correlation))
            if len(ok):
                pa, pb = a_idx[part][ok], b_idx[part][ok]
                again = second_opinion(a.work[pa], orient[part][ok], b.work[pb], box[ok], a_mean_picture[pa])
                corr[ok], detail[ok] = np.minimum(corr[ok], again[0]), np.minimum(detail[ok], again[1])
            for i in ok[(corr[ok] >= rule.min_correlation) & (detail[ok] >= rule.min_detail_correlation)]:
                near = orient[part][i] == 0 and np.abs(box[i] - FULL).max() <= _NEAR_BOX
                out.append((int(a_idx[part][i]), int(b_idx[part][i]), round(float(min(corr[i], 1.0)), 4),
                            "near" if near else "transformed", round(float(min(detail[i], 1.0)), 4)))
    return out


def _best_candidates(a_idx, b_idx, orient, view, scores, rule: CopyRule):
    """The `candidates` best b per (a, orientation) (a look-alike turned may outscore the copy
    upright), then per (a, b) the best-scoring orientation and view. Sorted on combined integer keys
    (two sort keys, not four: these sorts were a sixth of a whole search)."""
    keep = scores >= rule.min_retrieval_score
    a_idx, b_idx, orient, view, scores = a_idx[keep], b_idx[keep], orient[keep], view[keep], scores[keep]
    span = int(b_idx.max()) + 1 if len(b_idx) else 1
    group = a_idx * ORIENTATIONS + orient
    order = np.lexsort((-scores, group * span + b_idx))
    a_idx, b_idx, orient, view, scores, group = (x[order] for x in (a_idx, b_idx, orient, view, scores, group))
    first = np.ones(len(a_idx), bool)
    first[1:] = (group[1:] != group[:-1]) | (b_idx[1:] != b_idx[:-1])
    a_idx, b_idx, orient, view, scores, group = (x[first] for x in (a_idx, b_idx, orient, view, scores, group))
    order = np.lexsort((-scores, group))
    a_idx, b_idx, orient, view, scores, group = (x[order] for x in (a_idx, b_idx, orient, view, scores, group))
    rank = np.arange(len(group)) - np.searchsorted(group, group, side="left")
    keep = rank < rule.candidates
    a_idx, b_idx, orient, view, scores = a_idx[keep], b_idx[keep], orient[keep], view[keep], scores[keep]
    pair = a_idx * span + b_idx
    order = np.lexsort((-scores, pair))
    a_idx, b_idx, orient, view, scores, pair = (x[order] for x in (a_idx, b_idx, orient, view, scores, pair))
    first = np.ones(len(a_idx), bool)
    first[1:] = pair[1:] != pair[:-1]
    return a_idx[first], b_idx[first], orient[first], view[first], scores[first]


@dataclass(frozen=True)
class _MeanPictures:
    """Each source's mean standardised working image: what its pictures share (a standardised anatomy,
    a common layout); zero for sources of fewer than MIN_POPULATION pictures. Indexed by picture."""

    means: np.ndarray  # (sources, WORK, WORK) float32
    source_of: np.ndarray  # (n,) row of `means` per picture

    def __getitem__(self, pictures: np.ndarray) -> np.ndarray:
        return self.means[self.source_of[pictures]]


def _mean_picture(catalogue: Catalogue) -> _MeanPictures:
    labels, source_of = np.unique(catalogue.sources, return_inverse=True)
    means = np.zeros((len(labels), WORK, WORK), np.float32)
    for g in range(len(labels)):
        members = np.flatnonzero(source_of == g)
        if len(members) < MIN_POPULATION:
            continue
        total = np.zeros((WORK, WORK), np.float64)
        for s in range(0, len(members), _EMBED_CHUNK):
            total += standardised(catalogue.work[members[s:s + _EMBED_CHUNK]].astype(np.float32)).sum(axis=0)
        means[g] = total / len(members)
    return _MeanPictures(means, source_of.reshape(-1))

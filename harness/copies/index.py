"""Nearest-neighbour search over embeddings without comparing all pairs: a k-means inverted file.

Vectors are assigned to the nearest of ~2·√n k-means centroids (Lloyd's iterations on a sample, with
distances as one matrix product: scipy's `kmeans2` took a fifth of a whole copy search);
a query is compared only with the vectors of its `nprobe` nearest lists. Small sets (below
BRUTE_FORCE vectors) are searched exhaustively, in chunks. The vectors of a large set may be
`StoredRows` (a spill file): they are then sorted into lists on disk and read a list at a time, so
the index holds only its centroids and row order in memory.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import csr_matrix

from harness.data.rows import SPILL_BYTES, RowSpool, StoredRows, chunks_of

BRUTE_FORCE = 20_000  # vectors below which one list holds everything
_TRAIN_SAMPLE = 50_000
_QUERY_CHUNK = 8192
_CELLS = 1 << 22  # query×vector scores held at once (16 MB)
_SORT_CHUNK = 1 << 16  # stored vectors gathered into list order at once


class VectorIndex:
    """Unit vectors, searched by inner product (cosine)."""

    def __init__(self, vectors: np.ndarray | StoredRows, nprobe: int, seed: int = 0, spill_bytes: int = SPILL_BYTES) -> None:
        self.nprobe = nprobe
        if len(vectors) <= BRUTE_FORCE:
            vectors = np.ascontiguousarray(np.asarray(vectors), dtype=np.float32)
            self.centroids = np.zeros((1, vectors.shape[1]), np.float32)
            assign = np.zeros(len(vectors), np.int64)
        else:
            rng = np.random.default_rng(seed)
            lists = min(4096, int(2 * math.sqrt(len(vectors))))
            sample = vectors[rng.choice(len(vectors), min(len(vectors), _TRAIN_SAMPLE), replace=False)]
            self.centroids = _kmeans(sample, lists, rng)
            assign = np.concatenate([self._nearest_lists(chunk, 1)[:, 0] for _, chunk in chunks_of(vectors, _QUERY_CHUNK)])
        self.order = np.argsort(assign, kind="stable")
        self.vectors = _sorted_rows(vectors, self.order, spill_bytes)
        self.bounds = np.searchsorted(assign[self.order], np.arange(len(self.centroids) + 1))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query row, vector index, score) triples: up to k best vectors per query."""
        found = [self._search_chunk(queries[s:s + _QUERY_CHUNK], k, s) for s in range(0, len(queries), _QUERY_CHUNK)]
        if not found:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return tuple(np.concatenate(parts) for parts in zip(*found))  # type: ignore[return-value]

    def _nearest_lists(self, queries: np.ndarray, n: int) -> np.ndarray:
        """(q, n) the n nearest lists of each query; distances are held for _CELLS query×list pairs at a time."""
        n = min(n, len(self.centroids))
        if n >= len(self.centroids):
            return np.broadcast_to(np.arange(n), (len(queries), n))
        norms = (self.centroids ** 2).sum(axis=1)[None, :]
        step = max(1, _CELLS // len(self.centroids))
        out = np.empty((len(queries), n), np.int64)
        for s in range(0, len(queries), step):
            distance = norms - 2 * queries[s:s + step] @ self.centroids.T
            out[s:s + step] = distance.argmin(axis=1)[:, None] if n == 1 else np.argpartition(distance, n - 1, axis=1)[:, :n]
        return out

    def _search_chunk(self, queries: np.ndarray, k: int, offset: int) -> tuple[np.ndarray, ...]:
        probes = self._nearest_lists(queries, self.nprobe)
        rows = np.repeat(np.arange(len(queries)), probes.shape[1])
        lists = probes.ravel()
        by_list = np.argsort(lists, kind="stable")
        rows, lists = rows[by_list], lists[by_list]
        cuts = np.flatnonzero(np.diff(lists)) + 1
        q_out, v_out, s_out = [], [], []
        for group_rows, group_list in zip(np.split(rows, cuts), np.split(lists, cuts)):
            lo, hi = self.bounds[group_list[0]], self.bounds[group_list[0] + 1]
            if hi == lo:
                continue
            keep = min(k, hi - lo)
            step = max(1, _CELLS // (hi - lo))  # bounded score matrix
            for start in range(0, len(group_rows), step):
                some = group_rows[start:start + step]
                scores = queries[some] @ self.vectors[lo:hi].T
                best = np.argpartition(-scores, keep - 1, axis=1)[:, :keep] if keep < hi - lo else \
                    np.broadcast_to(np.arange(keep), (len(some), keep))
                q_out.append(np.repeat(some, keep))
                v_out.append(self.order[lo + best.ravel()])
                s_out.append(np.take_along_axis(scores, best, axis=1).ravel())
        if not q_out:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(q_out) + offset, np.concatenate(v_out), np.concatenate(s_out)


def _sorted_rows(vectors: np.ndarray | StoredRows, order: np.ndarray, spill_bytes: int) -> np.ndarray | StoredRows:
    """vectors[order]; stored vectors are sorted into another spill file a chunk at a time."""
    if not isinstance(vectors, StoredRows):
        return vectors[order]
    out = RowSpool(vectors.shape[1:], vectors.dtype, spill_bytes)
    for start in range(0, len(order), _SORT_CHUNK):
        out.append(vectors.read(order[start:start + _SORT_CHUNK]))
    return out.rows()


def _kmeans(sample: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 8) -> np.ndarray:
    """(k, d) centroids: k distinct sample rows to start, then Lloyd's iterations; a centroid that
    loses all its members stays where it was."""
    centroids = sample[rng.choice(len(sample), k, replace=False)].copy()
    for _ in range(iterations):
        norms = (centroids ** 2).sum(axis=1)[None, :]
        step = max(1, _CELLS // k)  # bounded: _CELLS sample×centroid distances at a time
        labels = np.concatenate([np.argmin(norms - 2 * sample[s:s + step] @ centroids.T, axis=1)
                                 for s in range(0, len(sample), step)])
        counts = np.bincount(labels, minlength=k)
        members = csr_matrix((np.ones(len(labels), sample.dtype), (labels, np.arange(len(labels)))), shape=(k, len(labels)))
        sums = np.asarray(members @ sample)  # a sparse product: np.add.at took a third of the k-means
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
    return centroids

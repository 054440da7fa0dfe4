"""Exact and near copies among one dataset's splits, grouped: what an audit is made of."""

from __future__ import annotations

from typing import Callable

import numpy as np

from harness.audit.near import NearPair, NearRule, near_pairs
from harness.audit.result import Group, Member
from harness.data.arrays import SPLITS
from harness.hashing import exact_hashes


def find_copies(splits: dict[str, np.ndarray], rule: NearRule,
                names: dict[str, list[str]] | None = None) -> tuple[Group, ...]:
    """Exact groups (any split; identical decoded pixels) and near groups (connected near pairs across
    splits). `names` gives each image's file id where the dataset has one."""
    digests = {split: exact_hashes(images) if len(images) else [] for split, images in splits.items()}
    ids = _exact_ids(digests)

    def member(split: str, index: int) -> Member:
        return Member(split, index, names[split][index] if names else None)

    exact: dict[str, list[Member]] = {}
    for split, split_digests in digests.items():
        for index, digest in enumerate(split_digests):
            exact.setdefault(digest, []).append(member(split, index))
    groups = [Group("exact", tuple(members)) for members in exact.values() if len(members) > 1]
    groups += [_near_group(component, member) for component in _components(near_pairs(splits, ids, rule))]
    return tuple(sorted(groups, key=lambda g: (not g.crosses_splits, g.kind, [(m.split, m.index) for m in g.members])))


def _exact_ids(digests: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """One integer per distinct image, so identical pairs can be told apart with array comparisons."""
    numbering: dict[str, int] = {}
    return {split: np.array([numbering.setdefault(d, len(numbering)) for d in split_digests], dtype=np.int64)
            for split, split_digests in digests.items()}


def _components(pairs: list[NearPair]) -> list[list[NearPair]]:
    """Near pairs grouped by the images they link (union-find)."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(node: tuple[str, int]) -> tuple[str, int]:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for p in pairs:
        parent[root((p.split_a, p.index_a))] = root((p.split_b, p.index_b))
    components: dict[tuple[str, int], list[NearPair]] = {}
    for p in pairs:
        components.setdefault(root((p.split_a, p.index_a)), []).append(p)
    return list(components.values())


def _near_group(pairs: list[NearPair], member: Callable[[str, int], Member]) -> Group:
    nodes = sorted({(p.split_a, p.index_a) for p in pairs} | {(p.split_b, p.index_b) for p in pairs},
                   key=lambda n: (SPLITS.index(n[0]), n[1]))
    position = {node: i for i, node in enumerate(nodes)}
    links = tuple(sorted((position[(p.split_a, p.index_a)], position[(p.split_b, p.index_b)], p.distance, p.correlation)
                         for p in pairs))
    return Group("near", tuple(member(*node) for node in nodes), links)

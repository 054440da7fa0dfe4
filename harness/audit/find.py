"""Copies among one dataset's splits, grouped: what an audit is made of.

The shared copy matcher (`harness.copies`, the one the CPMID leakage check and `submit validate
--check-images` use) searches every split against every other and against itself: exact copies (same
decoded pixels), near copies (resized, re-encoded, re-toned) and transformed ones (cropped, squashed,
flipped, rotated). Pictures enter the matcher one at a time (it keeps a 4 KB working image of each),
so memory grows with the number of pictures, not their pixels.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from harness.audit.result import Group, Member
from harness.copies import Catalogue, CopyPair, CopyRule, clusters_of, copy_pairs, same_digest
from harness.data.arrays import SPLITS


def find_copies(splits: dict[str, np.ndarray], rule: CopyRule,
                names: dict[str, list[str]] | None = None) -> tuple[Group, ...]:
    """Exact groups (identical decoded pixels, any split) and copy groups (pictures linked by near or
    transformed copies, within or across splits). `names` gives each image's file id where the dataset
    has one."""
    order = [split for split in splits if len(splits[split])]
    catalogue = Catalogue.joined([Catalogue.of(splits[split]) for split in order])
    starts = np.cumsum([0, *(len(splits[split]) for split in order)])

    def member(position: int) -> Member:
        k = int(np.searchsorted(starts, position, side="right")) - 1
        split, index = order[k], position - int(starts[k])
        return Member(split, index, names[split][index] if names else None)

    groups = [Group("exact", tuple(member(p) for p in members)) for members in same_digest(catalogue.digests)]
    linked = [p for p in copy_pairs(catalogue, rule) if p.kind != "exact"]
    groups += [_copy_group(pairs, member) for pairs in _components(len(catalogue), linked)]
    return tuple(sorted(groups, key=lambda g: (not g.crosses_splits, g.kind, [(m.split, m.index) for m in g.members])))


def _components(n: int, pairs: list[CopyPair]) -> list[list[CopyPair]]:
    """Copy pairs grouped by the pictures they link."""
    clusters = clusters_of(n, pairs)
    components: dict[int, list[CopyPair]] = {}
    for pair in pairs:
        components.setdefault(int(clusters[pair.query]), []).append(pair)
    return list(components.values())


def _copy_group(pairs: list[CopyPair], member: Callable[[int], Member]) -> Group:
    """A "transformed" group when any link needed a crop, squash, flip or rotation, else "near"."""
    pictures = sorted({p.query for p in pairs} | {p.reference for p in pairs},
                      key=lambda i: (SPLITS.index(member(i).split), member(i).index))
    position = {picture: i for i, picture in enumerate(pictures)}
    links = tuple(sorted((*sorted((position[p.query], position[p.reference])), p.kind, p.score) for p in pairs))
    kind = "transformed" if any(p.kind == "transformed" for p in pairs) else "near"
    return Group(kind, tuple(member(i) for i in pictures), links)

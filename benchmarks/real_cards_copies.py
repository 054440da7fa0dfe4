"""Copy clusters of the real folder cards with the shared matcher, within and across each card's splits.

    python benchmarks/real_cards_copies.py --data-dir ../shared/data [NAME ...]

For each card: images, copy clusters (`harness.data.copy_groups`, cached under $MEDBENCH_HOME/copies),
how many images have a copy, clusters inside one split, clusters spanning splits, and the train images
that have a copy in val or test — the figures in docs/real-cards.md. Splits are the card's own (for
`copies: together` cards the clusters are split groups, so nothing should span splits).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from harness.data import data_files
from harness.data.copy_groups import copy_cluster_ids
from harness.tasks import get_task

CARDS = ("busi-cls", "pbc-blood-cells", "kermany-cxr", "ham10000", "lc25000-lung", "brain-tumor-mri")


def card_copies(name: str, data_dir: Path) -> dict:
    files = data_files(get_task(name), data_dir)
    started = time.perf_counter()
    clusters = copy_cluster_ids([item.image for item, _ in files])
    splits_of: dict[int, set[str]] = defaultdict(set)
    members: dict[int, list[str]] = defaultdict(list)
    for (_, split), cluster in zip(files, clusters.tolist()):
        splits_of[cluster].add(split)
        members[cluster].append(split)
    copied = {c for c, m in members.items() if len(m) > 1}
    crossing = {c for c in copied if len(splits_of[c]) > 1}
    return {"card": name, "images": len(files), "clusters": len(members),
            "images_with_a_copy": sum(len(members[c]) for c in copied),
            "clusters_within_one_split": len(copied - crossing), "clusters_across_splits": len(crossing),
            "train_images_with_a_copy_in_val_or_test": sum(members[c].count("train") for c in crossing),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(CARDS))
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args()
    for name in args.names:
        print(json.dumps(card_copies(name, args.data_dir)), flush=True)


if __name__ == "__main__":
    main()

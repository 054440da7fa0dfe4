"""Which split each item of a folder dataset goes to: the release's own, a seeded draw of whole groups,
or a split file; a patient/lesion group found in two splits is an error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.data.arrays import SPLITS
from harness.data.folder_items import read_csv
from harness.data.loader import Item
from harness.errors import MedbenchError

if TYPE_CHECKING:
    from harness.tasks import TaskSpec


def assign_splits(spec: "TaskSpec", args: dict[str, Any], root: Path, items: list[Item]) -> list[str]:
    declared = args.get("split")
    fixed = [item.split for item in items]
    groups = [item.group or item.key for item in items]
    if all(s is not None for s in fixed):
        if isinstance(declared, dict) and "val_from_train" in declared and set(declared) <= {"val_from_train", "seed"}:
            splits = _val_from_train(spec, declared, [str(s) for s in fixed], groups)
        elif declared is not None:
            raise MedbenchError(f"task {spec.name}: the dataset's folders or split column already fix the "
                                f"split; remove source.args.split (or give only {{val_from_train: 0.1, seed: 0}})")
        elif isinstance(args.get("images"), dict) and "val" not in args["images"]:
            raise MedbenchError(f"task {spec.name}: the dataset's folders give train and test only; carve val out "
                                f"of train with source.args.split: {{val_from_train: 0.1, seed: 0}}")
        else:
            splits = [str(s) for s in fixed]
    elif declared is None:
        raise MedbenchError(f"task {spec.name}: declare the split in source.args.split: "
                            f"{{fractions: {{train: 0.8, val: 0.1, test: 0.1}}, seed: 0}} or {{file: splits.csv}}")
    elif isinstance(declared, dict) and "fractions" in declared and set(declared) <= {"fractions", "seed"}:
        splits = _random_split(spec, declared, groups)
    elif isinstance(declared, dict) and set(declared) == {"file"}:
        splits = _file_split(spec, root / str(declared["file"]), [item.key for item in items])
    else:
        raise MedbenchError(f"task {spec.name}: source.args.split must be {{fractions: …, seed: …}} or {{file: …}}")
    _check_groups(spec, items, splits)
    return splits


def _val_from_train(spec: "TaskSpec", declared: dict[str, Any], fixed: list[str], groups: list[str]) -> list[str]:
    """The release's own train/test split kept; a seeded fraction of train's groups becomes val."""
    fraction = declared["val_from_train"]
    if "val" in fixed:
        raise MedbenchError(f"task {spec.name}: the dataset already has a val split; remove val_from_train")
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool) or not 0 < fraction < 1:
        raise MedbenchError(f"task {spec.name}: val_from_train must be a fraction between 0 and 1, not {fraction!r}")
    train = [g for g, s in zip(groups, fixed) if s == "train"]
    inner = _random_split(spec, {"fractions": {"train": 1 - fraction, "val": fraction, "test": 0.0},
                                 "seed": declared.get("seed", 0)}, train)
    moved = iter(inner)
    return [next(moved) if s == "train" else s for s in fixed]


def _random_split(spec: "TaskSpec", declared: dict[str, Any], groups: list[str]) -> list[str]:
    """Whole groups are shuffled with the seed; the first go to test, the next to val, the rest to train."""
    fractions = declared["fractions"]
    seed = declared.get("seed", 0)
    if not isinstance(fractions, dict) or set(fractions) != set(SPLITS) or \
            not all(isinstance(v, (int, float)) and v >= 0 for v in fractions.values()) or \
            abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise MedbenchError(f"task {spec.name}: split fractions must give train, val and test, each ≥ 0, summing to 1")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise MedbenchError(f"task {spec.name}: split seed must be a non-negative integer, not {seed!r}")
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_test = int(np.floor(fractions["test"] * len(unique) + 0.5))
    n_val = int(np.floor(fractions["val"] * len(unique) + 0.5))
    assigned = {}
    for rank, index in enumerate(order):
        assigned[unique[index]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return [assigned[g] for g in groups]


def _file_split(spec: "TaskSpec", table: Path, keys: list[str]) -> list[str]:
    rows = read_csv(spec, table)
    try:
        given = {row["id"].strip(): row["split"].strip() for row in rows}
    except KeyError:
        raise MedbenchError(f"{table}: a split file needs the columns id,split") from None
    bad = sorted({s for s in given.values() if s not in SPLITS})
    if bad:
        raise MedbenchError(f"{table}: split {bad[0]!r} is not one of {', '.join(SPLITS)}")
    unknown = sorted(set(given) - set(keys))
    missing = [k for k in keys if k not in given]
    if unknown or missing:
        example = f"{unknown[0]!r} is not in the dataset" if unknown else f"{missing[0]!r} is not listed"
        raise MedbenchError(f"{table}: {len(unknown)} id(s) not in the dataset and {len(missing)} image(s) not "
                            f"listed (e.g. {example}); the file must list every image once")
    return [given[k] for k in keys]


def _check_groups(spec: "TaskSpec", items: list[Item], splits: list[str]) -> None:
    where: dict[str, dict[str, str]] = {}
    for item, split in zip(items, splits):
        if item.group:
            where.setdefault(item.group, {}).setdefault(split, item.key)
    for group, found in where.items():
        if len(found) > 1:
            names = ", ".join(f"{key} in {split}" for split, key in sorted(found.items()))
            raise MedbenchError(f"task {spec.name}: patient/lesion id {group!r} crosses splits ({names}); "
                                f"a group must stay in one split: fix the split column or file")


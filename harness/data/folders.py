"""Datasets shipped as folders of image files, in the three layouts they are usually downloaded in.

- `image_folders`: classification, one folder per class: `root/<images>/<class>/<file>`.
- `image_mask_folders`: segmentation, `root/<images>/<id>.<ext>` paired with
  `root/<masks>/<id><mask_suffix>.<ext>` (extra masks `<id><mask_suffix>_<k>` are merged); binary masks
  are thresholded at 127 (or read as 0/1), `indexed` masks hold class ids (gray or palette).
- `csv_list`: classification, a CSV with `path,label[,split]` and optionally a patient/lesion id column.

`images`/`masks` may also map train/val/test to folders when the dataset ships its own split.
Otherwise the split comes from the card (`split: {fractions: {train, val, test}, seed}`) or a split
file (`split: {file: splits.csv}` with columns id,split), so it is fixed by the card and shows in the
recorded data checksum. Patient/lesion ids (a CSV column, or `groups: {file, id_column, group_column}`)
keep each group in one split, and a group found in two splits is an error. A release that ships train
and test only gets its val from train (`split: {val_from_train: 0.1, seed: 0}`, whole groups moved), and
`copies: together` makes the copy clusters of the shared matcher groups too (harness.data.copy_groups).

Images are decoded once with PIL, converted to the card's channels, resized to its image_size (so
arrays stack) and kept uint8; they are decoded a chunk at a time into the pixel store
($MEDBENCH_HOME/store/folders), keyed by the card and by every file's path, size and mtime, so a second
run does not decode again, and are read back whole when they fit in memory, by rows when they do not.

This module registers the three loaders and runs their shared pipeline; listing items is `folder_items`,
assigning splits `folder_splits`, decoding and its cache `folder_decode`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from harness.data.arrays import SPLITS, ArrayDataset, TaskData
from harness.data.download import default_data_dir
from harness.data.folder_decode import decoded
from harness.data.folder_items import Lister, class_folder_items, csv_items, image_mask_items, with_copy_groups
from harness.data.folder_splits import assign_splits
from harness.data.loader import LOADERS, DataStatus, Item, Loader
from harness.data.rows import StoredRows, take_rows
from harness.errors import MedbenchError
from harness.kinds import CLASSIFICATION_KINDS, SINGLE_LABEL_KINDS, TaskKind

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

Checked = Callable[["TaskSpec", dict[str, Any]], Lister]  # checks a card's args, then names its layout's lister


def image_folders(spec: "TaskSpec", args: dict[str, Any]) -> Lister:
    _check_args(spec, args, {"root", "images", "classes", "split", "groups", "copies"})
    _check_kind(spec, SINGLE_LABEL_KINDS, "image_folders")
    return class_folder_items


def image_mask_folders(spec: "TaskSpec", args: dict[str, Any]) -> Lister:
    _check_args(spec, args, {"root", "images", "masks", "mask_suffix", "mask_mode", "recursive", "split", "groups",
                             "copies"})
    _check_kind(spec, (TaskKind.SEGMENTATION,), "image_mask_folders")
    if args.get("mask_mode", "binary") not in ("binary", "indexed"):
        raise MedbenchError(f"task {spec.name}: source.args.mask_mode must be binary or indexed, not {args['mask_mode']!r}")
    if args.get("mask_mode", "binary") == "binary" and spec.num_classes != 2:
        raise MedbenchError(f"task {spec.name}: binary masks need 2 label_names (background, lesion), got {spec.num_classes}")
    return image_mask_items


def csv_list(spec: "TaskSpec", args: dict[str, Any]) -> Lister:
    _check_args(spec, args, {"root", "csv", "path_column", "label_column", "split_column", "group_column",
                             "label_separator", "split", "copies"})
    _check_kind(spec, CLASSIFICATION_KINDS, "csv_list")
    if "csv" not in args:
        raise MedbenchError(f"task {spec.name}: source.args.csv (the list, relative to root) is required")
    return csv_items


def folder_status(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> DataStatus:
    """present when the dataset's root folder exists; these sets are never auto-downloaded."""
    places = _root_candidates(args, data_dir)
    found = next((p for p in places if p.is_dir()), None)
    return DataStatus("present", str(found)) if found else DataStatus("missing", str(places[0] if data_dir else places[-1]))


def folder_loader(checked: Checked) -> Loader:
    """The pipeline every layout shares: list items → assign splits → decode (or read the cache) → TaskData."""
    def files(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> list[tuple[Item, str]]:
        lister = checked(spec, args)
        root = _root(spec, args, data_dir)
        items = with_copy_groups(spec, args, lister(spec, args, root))
        return list(zip(items, assign_splits(spec, args, root, items)))

    def load(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> TaskData:
        listed = files(spec, args, data_dir)
        splits = np.array([split for _, split in listed])
        store, images, targets = decoded(spec, args, [item for item, _ in listed])
        data = TaskData(*(ArrayDataset(take_rows(images, rows), take_rows(targets, rows))
                          for rows in (np.flatnonzero(splits == name) for name in SPLITS)))
        return store.with_checksum(data) if isinstance(images, StoredRows) else data

    return Loader(load, folder_status, files)


def _check_args(spec: "TaskSpec", args: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise MedbenchError(f"task {spec.name}: unknown source arg(s) {', '.join(unknown)} for loader "
                            f"{spec.source.loader}; allowed: {', '.join(sorted(allowed))}")


def _check_kind(spec: "TaskSpec", kinds: tuple[TaskKind, ...], loader: str) -> None:
    if spec.kind not in kinds:
        raise MedbenchError(f"task {spec.name}: loader {loader} serves {' or '.join(kinds)} tasks, not {spec.kind}")


def _root_candidates(args: dict[str, Any], data_dir: Path | None) -> list[Path]:
    rel = Path(str(args.get("root", ".")))
    if rel.is_absolute():
        return [rel]
    return list(dict.fromkeys([(data_dir or Path(".")) / rel, default_data_dir() / rel]))


def _root(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> Path:
    places = _root_candidates(args, data_dir)
    for place in places:
        if place.is_dir():
            return place
    site = f" from {spec.homepage}" if spec.homepage else ""
    raise MedbenchError(f"task {spec.name}: folder {args.get('root', '.')} not found (looked for "
                        f"{' and '.join(map(str, places))}): download the dataset{site} and pass --data-dir to the "
                        f"folder that holds it")


LOADERS.add("image_folders", folder_loader(image_folders))
LOADERS.add("image_mask_folders", folder_loader(image_mask_folders))
LOADERS.add("csv_list", folder_loader(csv_list))

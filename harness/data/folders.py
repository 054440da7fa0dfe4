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
arrays stack) and kept uint8; the decoded arrays are cached under $MEDBENCH_HOME/folders, keyed by the
card and by every file's path, size and mtime, so a second run does not decode again.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import PIL
from PIL import Image

from harness.atomic import write_atomic
from harness.data import LOADERS, STATUS_CHECKS, DataStatus
from harness.data.arrays import SPLITS, ArrayDataset, TaskData
from harness.data.download import default_data_dir
from harness.errors import MedbenchError
from harness.paths import medbench_home

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
CACHE_VERSION = 1  # bump when decoding changes: it is part of the cache key
MASK_THRESHOLD = 127
NOT_BINARY_FRACTION = 0.1  # a binary mask with more mid-gray pixels than this is probably an image


@dataclass(frozen=True)
class Item:
    key: str  # [split/]path below the images folder without extension, or the path as listed in the CSV
    image: Path
    label: int | tuple[int, ...] | None = None
    masks: tuple[Path, ...] = ()
    split: str | None = None  # fixed by the dataset (split folders or column)
    group: str = ""  # patient / lesion id; "" means the item is its own group


# ---------------------------------------------------------------------------------------------
# loaders


@LOADERS.register("image_folders")
def load_image_folders(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> TaskData:
    _check_args(spec, args, {"root", "images", "classes", "split", "groups", "copies"})
    _check_kind(spec, ("binary", "multiclass"), "image_folders")
    return _load(spec, args, data_dir, _class_folder_items)


@LOADERS.register("image_mask_folders")
def load_image_mask_folders(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> TaskData:
    _check_args(spec, args, {"root", "images", "masks", "mask_suffix", "mask_mode", "recursive", "split", "groups",
                             "copies"})
    _check_kind(spec, ("segmentation",), "image_mask_folders")
    if args.get("mask_mode", "binary") not in ("binary", "indexed"):
        raise MedbenchError(f"task {spec.name}: source.args.mask_mode must be binary or indexed, not {args['mask_mode']!r}")
    if args.get("mask_mode", "binary") == "binary" and spec.num_classes != 2:
        raise MedbenchError(f"task {spec.name}: binary masks need 2 label_names (background, lesion), got {spec.num_classes}")
    return _load(spec, args, data_dir, _image_mask_items)


@LOADERS.register("csv_list")
def load_csv_list(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> TaskData:
    _check_args(spec, args, {"root", "csv", "path_column", "label_column", "split_column", "group_column",
                             "label_separator", "split", "copies"})
    _check_kind(spec, ("binary", "multiclass", "multilabel"), "csv_list")
    if "csv" not in args:
        raise MedbenchError(f"task {spec.name}: source.args.csv (the list, relative to root) is required")
    return _load(spec, args, data_dir, _csv_items)


def folder_status(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> DataStatus:
    """present when the dataset's root folder exists; these sets are never auto-downloaded."""
    places = _root_candidates(args, data_dir)
    found = next((p for p in places if p.is_dir()), None)
    return DataStatus("present", str(found)) if found else DataStatus("missing", str(places[0] if data_dir else places[-1]))


for _loader in ("image_folders", "image_mask_folders", "csv_list"):
    STATUS_CHECKS.add(_loader, folder_status)


def folder_files(spec: "TaskSpec", data_dir: Path | None = None) -> list[tuple[Item, str]]:
    """Every item with its split, in load order, without decoding: for audits of files and splits."""
    args = dict(spec.source.args)
    if spec.source.loader not in _LISTERS:
        raise MedbenchError(f"task {spec.name} is not a folder dataset (loader {spec.source.loader})")
    root = _root(spec, args, data_dir)
    items = _with_copy_groups(spec, args, _LISTERS[spec.source.loader](spec, args, root))
    return list(zip(items, _assign_splits(spec, args, root, items)))


def folder_splits(spec: "TaskSpec", data_dir: Path | None = None) -> list[tuple[str, str, str]]:
    """(id, group, split) of every item, without decoding: to inspect or freeze a split as a file."""
    return [(item.key, item.group or item.key, split) for item, split in folder_files(spec, data_dir)]


# ---------------------------------------------------------------------------------------------
# shared pipeline: list items → assign splits → decode (or read the cache) → TaskData

Lister = Callable[["TaskSpec", dict[str, Any], Path], list[Item]]


def _load(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None, lister: Lister) -> TaskData:
    root = _root(spec, args, data_dir)
    items = _with_copy_groups(spec, args, lister(spec, args, root))
    splits = np.array(_assign_splits(spec, args, root, items))
    images, targets = _decoded(spec, args, items)
    return TaskData(*(ArrayDataset(images[splits == name], targets[splits == name]) for name in SPLITS))


def _check_args(spec: "TaskSpec", args: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise MedbenchError(f"task {spec.name}: unknown source arg(s) {', '.join(unknown)} for loader "
                            f"{spec.source.loader}; allowed: {', '.join(sorted(allowed))}")


def _check_kind(spec: "TaskSpec", kinds: tuple[str, ...], loader: str) -> None:
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


def _per_split(spec: "TaskSpec", args: dict[str, Any], name: str, root: Path, default: str) -> dict[str | None, Path]:
    """`args[name]` as {split or None: folder}: one folder, or a train/val/test mapping of folders."""
    value = args.get(name, default)
    if isinstance(value, str):
        found = {None: root / value}
    elif isinstance(value, dict) and set(value) in (set(SPLITS), {"train", "test"}):
        found = {split: root / str(folder) for split, folder in value.items()}
    else:
        raise MedbenchError(f"task {spec.name}: source.args.{name} must be a folder or a mapping of "
                            f"train, val and test folders (or train and test, with split: {{val_from_train: …}})")
    for folder in found.values():
        if not folder.is_dir():
            raise MedbenchError(f"task {spec.name}: folder {folder} not found; is the dataset unpacked completely?")
    return found


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in candidates if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                  and p.is_file())


def _key(path: Path, folder: Path, split: str | None = None) -> str:
    """The item's id; per-split folders may reuse file names, so their split is part of it."""
    key = path.relative_to(folder).with_suffix("").as_posix()
    return f"{split}/{key}" if split else key


# ---------------------------------------------------------------------------------------------
# layouts


def _class_folder_items(spec: "TaskSpec", args: dict[str, Any], root: Path) -> list[Item]:
    classes = [str(c) for c in args.get("classes", spec.label_names)]
    if len(classes) != spec.num_classes:
        raise MedbenchError(f"task {spec.name}: source.args.classes lists {len(classes)} folders for "
                            f"{spec.num_classes} label_names; give one folder per label, in label order")
    items = []
    for split, folder in _per_split(spec, args, "images", root, ".").items():
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if sub.name not in classes:
                raise MedbenchError(f"task {spec.name}: folder {sub} is not a class (expected one of "
                                    f"{', '.join(classes)}); rename it or set source.args.classes")
            label = classes.index(sub.name)
            items += [Item(_key(p, folder, split), p, label, split=split) for p in _image_files(sub, recursive=True)]
    if not items:
        raise MedbenchError(f"task {spec.name}: no image files in class folders under {root} "
                            f"(expected <class>/<image>, classes {', '.join(classes)})")
    return _with_groups(spec, args, root, _unique(spec, items))


def _image_mask_items(spec: "TaskSpec", args: dict[str, Any], root: Path) -> list[Item]:
    image_dirs, mask_dirs = (_per_split(spec, args, name, root, name) for name in ("images", "masks"))
    if set(image_dirs) != set(mask_dirs):
        raise MedbenchError(f"task {spec.name}: give images and masks both as one folder or both per split")
    suffix, recursive = str(args.get("mask_suffix", "")), bool(args.get("recursive", False))
    items = []
    for split, image_dir in image_dirs.items():
        items += _pair(spec, image_dir, mask_dirs[split], suffix, recursive, split)
    return _with_groups(spec, args, root, _unique(spec, items))


def _pair(spec: "TaskSpec", image_dir: Path, mask_dir: Path, suffix: str, recursive: bool,
          split: str | None) -> list[Item]:
    shared = image_dir.resolve() == mask_dir.resolve()
    if shared and not suffix:
        raise MedbenchError(f"task {spec.name}: images and masks share the folder {image_dir}; set "
                            f"source.args.mask_suffix (e.g. _mask) so masks can be told apart")
    pattern = re.compile(rf"(?P<base>.*){re.escape(suffix)}(?:_\d+)?") if suffix else None
    masks: dict[str, list[Path]] = {}
    for path in _image_files(mask_dir, recursive):
        key = _key(path, mask_dir)
        match = pattern.fullmatch(key) if pattern else None
        if pattern and not match:
            if shared:
                continue  # an image
            raise MedbenchError(f"task {spec.name}: {path} in the masks folder does not end in {suffix!r}; "
                                f"remove it or fix source.args.mask_suffix")
        masks.setdefault(match["base"] if match else key, []).append(path)
    images = [p for p in _image_files(image_dir, recursive) if not (shared and pattern.fullmatch(_key(p, image_dir)))]
    if not images:
        raise MedbenchError(f"task {spec.name}: no image files in {image_dir}")
    items = []
    for path in images:
        key = _key(path, image_dir)
        found = masks.pop(key, None)
        if not found:
            raise MedbenchError(f"task {spec.name}: image {path} has no mask (expected {mask_dir / key}{suffix}.<ext>)")
        items.append(Item(_key(path, image_dir, split), path, masks=tuple(found), split=split))
    if masks:
        orphan = next(iter(masks.values()))[0]
        raise MedbenchError(f"task {spec.name}: mask {orphan} has no image in {image_dir} "
                            f"({len(masks)} such mask(s)); remove them or fix the file names")
    return items


def _csv_items(spec: "TaskSpec", args: dict[str, Any], root: Path) -> list[Item]:
    table = root / str(args["csv"])
    columns = {name: str(args.get(f"{name}_column", name)) for name in ("path", "label", "split")}
    group_column = args.get("group_column")
    rows = _read_csv(spec, table)
    header = set(rows[0]) if rows else set()
    missing = [c for c in (columns["path"], columns["label"], group_column) if c and c not in header]
    if missing:
        raise MedbenchError(f"{table}: no column {', '.join(missing)} (found: {', '.join(sorted(header))}); "
                            f"fix the file or set source.args.path_column / label_column / group_column")
    has_split = columns["split"] in header
    items = []
    for line, row in enumerate(rows, start=2):
        path = root / row[columns["path"]].strip()
        if not row[columns["path"]].strip() or not path.is_file():
            raise MedbenchError(f"{table} line {line}: image {path} not found")
        split = row[columns["split"]].strip() if has_split else None
        if has_split and split not in SPLITS:
            raise MedbenchError(f"{table} line {line}: split {split!r} is not one of {', '.join(SPLITS)}")
        label = _csv_label(spec, row[columns["label"]], str(args.get("label_separator", "|")), f"{table} line {line}")
        group = row[group_column].strip() if group_column else ""
        items.append(Item(row[columns["path"]].strip(), path, label, split=split, group=group))
    if not items:
        raise MedbenchError(f"{table} lists no images")
    return _unique(spec, items)


def _read_csv(spec: "TaskSpec", table: Path) -> list[dict[str, str]]:
    try:
        with open(table, newline="", encoding="utf-8-sig") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    except FileNotFoundError:
        raise MedbenchError(f"task {spec.name}: list {table} not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MedbenchError(f"{table} is not a readable CSV ({exc})") from None


def _csv_label(spec: "TaskSpec", text: str, separator: str, where: str) -> int | tuple[int, ...]:
    def one(value: str) -> int:
        value = value.strip()
        if value in spec.label_names:
            return spec.label_names.index(value)
        if value.isdigit() and int(value) < spec.num_classes:
            return int(value)
        raise MedbenchError(f"{where}: label {value!r} is neither one of {', '.join(spec.label_names)} "
                            f"nor an index below {spec.num_classes}")

    if spec.kind != "multilabel":
        return one(text or "")
    present = {one(v) for v in (text or "").split(separator) if v.strip()}
    return tuple(int(i in present) for i in range(spec.num_classes))


def _unique(spec: "TaskSpec", items: list[Item]) -> list[Item]:
    seen: dict[str, Item] = {}
    for item in items:
        if item.key in seen:
            raise MedbenchError(f"task {spec.name}: {item.image} and {seen[item.key].image} share the id "
                                f"{item.key!r}; each image needs its own name")
        seen[item.key] = item
    return sorted(items, key=lambda it: it.key)


def _with_groups(spec: "TaskSpec", args: dict[str, Any], root: Path, items: list[Item]) -> list[Item]:
    """Attach patient/lesion ids from `groups: {file, id_column, group_column}` (ids are file stems)."""
    declared = args.get("groups")
    if declared is None:
        return items
    if not isinstance(declared, dict) or set(declared) != {"file", "id_column", "group_column"}:
        raise MedbenchError(f"task {spec.name}: source.args.groups must give file, id_column and group_column")
    table = root / str(declared["file"])
    rows = _read_csv(spec, table)
    try:
        by_id = {row[declared["id_column"]].strip(): row[declared["group_column"]].strip() for row in rows}
    except KeyError as exc:
        raise MedbenchError(f"{table}: no column {exc}; fix source.args.groups") from None
    missing = [it.image.name for it in items if it.image.stem not in by_id]
    if missing:
        raise MedbenchError(f"{table} has no group for {len(missing)} image(s), e.g. {missing[0]}")
    return [Item(it.key, it.image, it.label, it.masks, it.split, by_id[it.image.stem]) for it in items]


def _with_copy_groups(spec: "TaskSpec", args: dict[str, Any], items: list[Item]) -> list[Item]:
    """`copies: together`: images linked by copies (and their patient/lesion groups) become one group,
    so a split keeps them on one side. A split fixed by the release is kept: copies are then only
    grouped within each of its splits (`medbench data audit` reports the ones that cross)."""
    mode = args.get("copies", "apart")
    if mode not in ("apart", "together"):
        raise MedbenchError(f"task {spec.name}: source.args.copies must be together or apart, not {mode!r}")
    if mode == "apart":
        return items
    if isinstance(args.get("split"), dict) and "file" in args["split"] or \
            all(item.split is not None for item in items) and "val_from_train" not in (args.get("split") or {}):
        raise MedbenchError(f"task {spec.name}: copies: together needs a split the harness draws (fractions or "
                            f"val_from_train), not one fixed by a file or the release's folders")
    from harness.data.copy_groups import copy_cluster_ids

    clusters = copy_cluster_ids([item.image for item in items])
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[tuple[Any, ...], int] = {}
    for i, item in enumerate(items):
        for link in (("group", item.group or item.key), ("copies", item.split, int(clusters[i]))):
            j = first.setdefault(link, i)
            parent[root(i)] = root(j)
    names: dict[int, str] = {}
    for i, item in enumerate(items):
        names[root(i)] = min(names.get(root(i), item.group or item.key), item.group or item.key)
    return [replace(item, group=names[root(i)]) for i, item in enumerate(items)]


# ---------------------------------------------------------------------------------------------
# splits


def _assign_splits(spec: "TaskSpec", args: dict[str, Any], root: Path, items: list[Item]) -> list[str]:
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
    rows = _read_csv(spec, table)
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


# ---------------------------------------------------------------------------------------------
# decoding and cache


def _decoded(spec: "TaskSpec", args: dict[str, Any], items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
    """(images, targets) in item order, from the cache when the files are unchanged."""
    files = [path for item in items for path in (item.image, *item.masks)]
    key = _cache_key(spec, args, files, [item.key for item in items], [item.label for item in items])
    path = medbench_home() / "folders" / f"{spec.name}-{key}.npz"
    cached = _read_cache(path, len(items))
    if cached is not None:
        return cached
    arrays = _decode_all(spec, args, items)
    _write_cache(path, arrays, spec.name)
    return arrays


def _cache_key(spec: "TaskSpec", args: dict[str, Any], files: list[Path], keys: list[str], labels: list[Any]) -> str:
    digest = hashlib.sha256(json.dumps(
        {"version": CACHE_VERSION, "pillow": PIL.__version__, "loader": spec.source.loader, "args": args, "kind": spec.kind,
         "labels": spec.label_names, "size": spec.image_size, "channels": spec.channels, "keys": keys,
         "targets": labels}, sort_keys=True, default=str).encode())
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def _read_cache(path: Path, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, targets = npz["images"], npz["targets"]
    except (OSError, ValueError, KeyError, EOFError):
        return None
    return (images, targets) if len(images) == n == len(targets) else None


def _write_cache(path: Path, arrays: tuple[np.ndarray, np.ndarray], name: str) -> None:
    """Atomic write; older caches of the same task are removed. A read-only home only costs a re-decode."""
    try:
        write_atomic(path, lambda handle: np.savez(handle, images=arrays[0], targets=arrays[1]))
        stale = re.compile(rf"{re.escape(name)}-[0-9a-f]{{24}}\.npz")
        for old in path.parent.iterdir():
            if old != path and stale.fullmatch(old.name):
                old.unlink(missing_ok=True)
    except OSError:
        pass


def _decode_all(spec: "TaskSpec", args: dict[str, Any], items: list[Item]) -> tuple[np.ndarray, np.ndarray]:
    size, channels = spec.image_size, spec.channels
    images = np.empty((len(items), size, size, channels), dtype=np.uint8)
    if spec.is_segmentation:
        targets = np.empty((len(items), size, size), dtype=np.uint8)
        mode = str(args.get("mask_mode", "binary"))

        def decode(i: int) -> None:
            images[i], native = _decode_image(items[i].image, size, channels)
            targets[i] = _decode_masks(items[i].masks, native, items[i].image, size, mode, spec.num_classes)
    else:
        dtype = np.uint8 if spec.kind == "multilabel" else np.int64
        targets = np.array([item.label for item in items], dtype=dtype)

        def decode(i: int) -> None:
            images[i] = _decode_image(items[i].image, size, channels)[0]

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL releases the GIL
        futures = [pool.submit(decode, i) for i in range(len(items))]
        try:
            for future in futures:  # in item order, so the error names the first bad file
                future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return images, targets


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MedbenchError(f"cannot read image {path} ({exc}); replace or remove the file") from None


def _pixels(path: Path, image: Image.Image, convert: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """Decode through `convert`, turning a truncated or corrupt file into a one-line error."""
    try:
        return np.asarray(convert(image))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MedbenchError(f"cannot read image {path} ({exc}); replace or remove the file") from None


def _to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit gray (some ultrasound and X-ray PNGs) scaled to 0..255; PIL's convert would clip it."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if values.max() > 255 else 255.0
    return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _decode_image(path: Path, size: int, channels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(size, size, channels) uint8 and the file's own (width, height)."""
    mode = "L" if channels == 1 else "RGB"
    with _open(path) as image:
        native = image.size
        image.draft(mode, (size, size))  # JPEG: decode at a reduced scale that is still ≥ size
        pixels = _pixels(path, image, lambda im: _to_8bit(im).convert(mode).resize((size, size), Image.Resampling.BILINEAR))
    return pixels.reshape(size, size, channels), native


def _decode_masks(paths: tuple[Path, ...], native: tuple[int, int], image: Path, size: int, mode: str,
                  num_classes: int) -> np.ndarray:
    """One (size, size) uint8 class-index mask; several binary masks of one image are merged."""
    if mode == "indexed" and len(paths) > 1:
        raise MedbenchError(f"image {image} has {len(paths)} masks; indexed masks must be one file per image")
    merged = np.zeros((size, size), dtype=np.uint8)
    for path in paths:
        with _open(path) as mask:
            if mask.size != native:
                raise MedbenchError(f"mask {path} is {mask.size[0]}×{mask.size[1]} but its image {image} is "
                                    f"{native[0]}×{native[1]}: a mask must match its image pixel for pixel")
            if mode == "indexed":
                merged = _indexed_mask(path, mask, size, num_classes)
            else:
                merged |= _binary_mask(path, mask, size)
    return merged


def _binary_mask(path: Path, mask: Image.Image, size: int) -> np.ndarray:
    """0/1 masks are read as they are; 0/255 masks (JPEG artefacts included) are thresholded at 127."""
    values = _pixels(path, mask, lambda im: _to_8bit(im).convert("L"))
    top = int(values.max())
    if top <= 1:
        return np.asarray(Image.fromarray(values).resize((size, size), Image.Resampling.NEAREST))
    if top <= MASK_THRESHOLD:
        raise MedbenchError(f"mask {path} has values 0..{top}: that looks like class ids, not a binary mask; "
                            f"set source.args.mask_mode: indexed with one label_name per class")
    grey = float(((values > 32) & (values < 223)).mean())
    if grey > NOT_BINARY_FRACTION:
        raise MedbenchError(f"mask {path} is not binary: {grey:.0%} of its pixels are mid-gray; is it an image "
                            f"in the masks folder?")
    small = Image.fromarray(values).resize((size, size), Image.Resampling.BILINEAR)
    return (np.asarray(small) > MASK_THRESHOLD).astype(np.uint8)


def _indexed_mask(path: Path, mask: Image.Image, size: int, num_classes: int) -> np.ndarray:
    """Gray or palette masks whose values (palette indices) are class ids below num_classes."""
    if mask.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise MedbenchError(f"mask {path} is {mask.mode}; indexed masks must be gray or palette images of class ids")
    values = _pixels(path, mask, lambda im: im)
    top = int(values.max())
    if top >= num_classes:
        raise MedbenchError(f"mask {path} has class id {top} but the card has {num_classes} label_names "
                            f"(ids 0..{num_classes - 1})")
    small = Image.fromarray(values.astype(np.uint8)).resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(small)


_LISTERS: dict[str, Lister] = {"image_folders": _class_folder_items, "image_mask_folders": _image_mask_items,
                               "csv_list": _csv_items}
FOLDER_LOADERS = frozenset(_LISTERS)  # loaders whose items are files with ids (`folder_splits` lists them)

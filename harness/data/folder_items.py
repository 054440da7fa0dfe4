"""The items of a folder dataset, listed without decoding, in the three layouts datasets ship in.

Class-per-folder, image/mask pairs and a CSV list (see `harness.data.folders`); patient/lesion ids come
from a CSV column or a `groups` file, and `copies: together` merges copy clusters into groups too.
"""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from harness.data.arrays import SPLITS
from harness.data.loader import Item
from harness.errors import MedbenchError

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}

Lister = Callable[["TaskSpec", dict[str, Any], Path], list[Item]]


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



def class_folder_items(spec: "TaskSpec", args: dict[str, Any], root: Path) -> list[Item]:
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


def image_mask_items(spec: "TaskSpec", args: dict[str, Any], root: Path) -> list[Item]:
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


def csv_items(spec: "TaskSpec", args: dict[str, Any], root: Path) -> list[Item]:
    table = root / str(args["csv"])
    columns = {name: str(args.get(f"{name}_column", name)) for name in ("path", "label", "split")}
    group_column = args.get("group_column")
    rows = read_csv(spec, table)
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


def read_csv(spec: "TaskSpec", table: Path) -> list[dict[str, str]]:
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

    if not spec.kind.multilabel:
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
    rows = read_csv(spec, table)
    try:
        by_id = {row[declared["id_column"]].strip(): row[declared["group_column"]].strip() for row in rows}
    except KeyError as exc:
        raise MedbenchError(f"{table}: no column {exc}; fix source.args.groups") from None
    missing = [it.image.name for it in items if it.image.stem not in by_id]
    if missing:
        raise MedbenchError(f"{table} has no group for {len(missing)} image(s), e.g. {missing[0]}")
    return [Item(it.key, it.image, it.label, it.masks, it.split, by_id[it.image.stem]) for it in items]


def with_copy_groups(spec: "TaskSpec", args: dict[str, Any], items: list[Item]) -> list[Item]:
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


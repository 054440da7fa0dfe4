"""Task data: how the rest of the code reaches a card's data, whatever its on-disk format.

Each format is one `Loader` (harness.data.loader) registered in `LOADERS`: `medmnist` (.npz files),
`image_folders` / `image_mask_folders` / `csv_list` (folders of image files), `synthetic` (generated
phantoms), and plugins through the entry-point group `medbench.loaders`. Importing this package
registers the built-in ones; every loader produces `TaskData` of uint8 arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.data import folders, medmnist, synthetic  # noqa: F401  (register the built-in loaders)
from harness.data.arrays import TaskData
from harness.data.loader import LOADERS, DataStatus, Item, Loader

if TYPE_CHECKING:
    from harness.tasks import TaskSpec


def loader_of(spec: "TaskSpec") -> Loader:
    """The card's loader; a plugin's entry point may name a bare load function instead of a `Loader`."""
    entry = LOADERS.get(spec.source.loader)
    return entry if isinstance(entry, Loader) else Loader(entry)


def load_data(spec: "TaskSpec", data_dir: Path | None = None) -> TaskData:
    """The card's three splits, read by its loader (from `data_dir`, then where the loader looks by default)."""
    return loader_of(spec).load(spec, dict(spec.source.args), data_dir)


def data_status(spec: "TaskSpec", data_dir: Path | None = None) -> DataStatus:
    """present / downloadable / missing / generated, and where, without loading anything; `unknown` for a
    loader (e.g. a plugin) that cannot tell."""
    if spec.source.loader not in LOADERS:
        return DataStatus("unknown", "")
    check = loader_of(spec).status
    return DataStatus("unknown", "") if check is None else check(spec, dict(spec.source.args), data_dir)


def data_files(spec: "TaskSpec", data_dir: Path | None = None) -> list[tuple[Item, str]] | None:
    """Every file with its split, in load order, without decoding; None for array files (items are indices)."""
    files = loader_of(spec).files
    return None if files is None else files(spec, dict(spec.source.args), data_dir)


def item_splits(spec: "TaskSpec", data_dir: Path | None = None) -> list[tuple[str, str, str]] | None:
    """(id, group, split) of every file, without decoding: to inspect or freeze a split as a file."""
    files = data_files(spec, data_dir)
    return None if files is None else [(item.key, item.group or item.key, split) for item, split in files]


__all__ = ["load_data", "data_status", "data_files", "item_splits", "loader_of"]

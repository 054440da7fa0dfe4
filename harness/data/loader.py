"""The one interface every on-disk format implements, and the one registry of them.

A `Loader` turns a card's `source.args` into `TaskData`; it may also say, without loading anything,
whether its data are present (`medbench tasks list`) and list the files it would read, with their ids
and splits (audits, shortcut checks, `medbench data splits`). Built-in formats register here when
`harness.data` is imported; plugins through the entry-point group `medbench.loaders`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from harness.data.arrays import TaskData
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.tasks import TaskSpec


class DataStatus(NamedTuple):
    state: str  # present | downloadable | missing | generated | unknown
    where: str  # the file or folder found, or where it is expected


@dataclass(frozen=True)
class Item:
    """One file of a dataset made of files, listed without decoding it."""

    key: str  # [split/]path below the images folder without extension, or the path as listed in the CSV
    image: Path
    label: int | tuple[int, ...] | None = None
    masks: tuple[Path, ...] = ()
    split: str | None = None  # fixed by the dataset (split folders or column)
    group: str = ""  # patient / lesion id; "" means the item is its own group


Load = Callable[["TaskSpec", dict[str, Any], "Path | None"], TaskData]
Status = Callable[["TaskSpec", dict[str, Any], "Path | None"], DataStatus]
Files = Callable[["TaskSpec", dict[str, Any], "Path | None"], list[tuple[Item, str]]]


@dataclass(frozen=True)
class Loader:
    """`load(spec, args, data_dir)`; `status` is None when presence cannot be told without loading, `files`
    is None for array files, whose items are only indices."""

    load: Load
    status: Status | None = None
    files: Files | None = None


LOADERS: Registry[Loader] = Registry("data loader", entry_point_group="medbench.loaders")

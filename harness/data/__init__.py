"""Dataset loaders, one per on-disk format, all producing `TaskData` of uint8 arrays.

A loader is `load(spec, args, data_dir) -> TaskData`, registered under its format name in
`LOADERS`; importing this package registers the built-in ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from harness.data.arrays import SPLITS, ArrayDataset, TaskData
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

Loader = Callable[["TaskSpec", dict[str, Any], "Path | None"], TaskData]
LOADERS: Registry[Loader] = Registry("data loader", entry_point_group="medbench.loaders")

from harness.data import medmnist, synthetic  # noqa: E402,F401  (register built-in loaders)

__all__ = ["SPLITS", "ArrayDataset", "TaskData", "LOADERS", "Loader"]

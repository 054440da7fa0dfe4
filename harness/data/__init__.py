"""Dataset loaders, one per on-disk format, all producing `TaskData` of uint8 arrays.

A loader is `load(spec, args, data_dir) -> TaskData`, registered under its format name in
`LOADERS`; importing this package registers the built-in ones. A loader may also register a
status check in `STATUS_CHECKS` (same name) that says, without loading anything, whether its
data is present and where it is expected (`medbench tasks list`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from harness.data.arrays import SPLITS, ArrayDataset, TaskData
from harness.paths import medbench_home
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.tasks import TaskSpec


class DataStatus(NamedTuple):
    state: str  # present | downloadable | missing | generated
    where: str  # the file or folder found, or where it is expected


Loader = Callable[["TaskSpec", dict[str, Any], "Path | None"], TaskData]
StatusCheck = Callable[["TaskSpec", dict[str, Any], "Path | None"], DataStatus]
LOADERS: Registry[Loader] = Registry("data loader", entry_point_group="medbench.loaders")
STATUS_CHECKS: Registry[StatusCheck] = Registry("data status check", entry_point_group="medbench.status_checks")

from harness.data import folders, medmnist, synthetic  # noqa: E402,F401  (register built-in loaders)


@STATUS_CHECKS.register("synthetic")
def synthetic_status(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> DataStatus:
    """Synthetic tasks are rendered on first use and cached: never missing, nothing to download."""
    return DataStatus("generated", str(medbench_home() / "synthetic"))


def data_status(spec: "TaskSpec", data_dir: Path | None = None) -> DataStatus:
    """The loader's status check, or `unknown` for a loader (e.g. a plugin) that has none."""
    if spec.source.loader not in STATUS_CHECKS:
        return DataStatus("unknown", "")
    return STATUS_CHECKS.get(spec.source.loader)(spec, dict(spec.source.args), data_dir)


__all__ = ["SPLITS", "ArrayDataset", "TaskData", "LOADERS", "Loader", "STATUS_CHECKS", "StatusCheck",
           "DataStatus", "data_status"]

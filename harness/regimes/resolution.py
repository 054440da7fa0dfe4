"""Image size as a protocol parameter: which files give a task's pixels at the size asked for.

MedMNIST+ publishes each dataset at 28, 64, 128 and 224 px as separate cards (`breastmnist`,
`breastmnist_64`, …). Asked for `breastmnist` at 224 px, a run uses `breastmnist_224`'s file
when it is present (the dataset's own downsampling, not ours) and otherwise resizes the 28 px
images; the record says which happened. Results stay named after the task asked for, so runs at
different sizes line up in one table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.data import data_status
from harness.tasks import TaskSpec, tasks

_SIZE_SUFFIX = re.compile(r"_(\d+)$")


def family(spec: TaskSpec) -> str:
    """The dataset a card belongs to: its name without a `_<size>` suffix that names its own image size."""
    match = _SIZE_SUFFIX.search(spec.name)
    return spec.name[:match.start()] if match and int(match.group(1)) == spec.image_size else spec.name


def _same_dataset(a: TaskSpec, b: TaskSpec) -> bool:
    return (family(a) == family(b) and a.source.loader == b.source.loader and a.kind == b.kind
            and a.label_names == b.label_names and a.channels == b.channels)


def size_matched(task: TaskSpec, size: int, data_dir: Path | None) -> tuple[TaskSpec, dict[str, Any]]:
    """The card to load for `task` at `size` px, and the record's account of where the pixels came from."""
    if task.image_size != size:
        registry = tasks()
        for name in registry.names():
            other = registry.get(name)
            if other.image_size == size and _same_dataset(other, task) and \
                    data_status(other, data_dir).state == "present":
                return other, as_is(other, size)
    return task, as_is(task, size)


def as_is(task: TaskSpec, size: int) -> dict[str, Any]:
    """The record's account of pixels taken from `task`'s own files and resized to `size` where they differ."""
    return {"card": task.name, "native_size": task.image_size, "resized": task.image_size != size}

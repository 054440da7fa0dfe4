"""On-disk caches under $MEDBENCH_HOME: read, write atomically, and treat any failure as a miss.

A cache only saves time, so an absent, unreadable, truncated or read-only cache file costs a
recomputation, never an error: `read_*` answers None, `write_*` answers False. Arrays are read
with `allow_pickle=False`. The callers (synthetic data, copy clusters, audits,
frozen features) keep their keys and their checks of what they read.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import write_atomic, write_text_atomic

READ_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)  # JSONDecodeError: a ValueError


def read_arrays(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The named arrays of an .npz cache file, loaded; None when the file is absent, broken or lacks one."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in names}
    except READ_ERRORS:
        return None


def write_arrays(path: Path, **arrays: np.ndarray) -> bool:
    """An .npz cache file, atomically; False when the disk refused (read-only, full): the next run computes again."""
    try:
        write_atomic(path, lambda handle: np.savez(handle, **arrays))
    except OSError:
        return False
    return True


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except READ_ERRORS:  # UnicodeDecodeError: a ValueError
        return None


def write_json(path: Path, data: Any, indent: int | None = None) -> bool:
    try:
        write_text_atomic(path, json.dumps(data, indent=indent) + "\n")
    except OSError:
        return False
    return True

"""A dataset file's arrays in the pixel store, keyed by the file's sha256.

Hashing a 15 GB file on every run would make start-up grow with the dataset, so a file's sha256 is
remembered per (path, size, mtime, inode) (`harness.checksums.remembered_digest`): a changed or
replaced file is hashed (and stored) again; the checksum of the task data made from the stored arrays
is remembered in the store (`Store.with_checksum`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.checksums import remembered_digest
from harness.data.store import Store, build_store, store_root

Write = Callable[[str, tuple[int, ...], np.dtype, Any], None]


def stored_file(path: Path, kind: str, stream: Callable[[Path, Write], None]) -> Store:
    """The store of `path`'s arrays, written by `stream(path, write)` the first time this file is seen."""
    sha = remembered_digest(path)

    def fill(builder: Any) -> dict[str, Any]:
        stream(path, builder.write)
        return {"source": {"kind": kind, "file": path.name, "sha256": sha}}

    return build_store(store_root() / f"{kind}-{sha}", fill)

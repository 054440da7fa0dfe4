"""A dataset file's arrays in the pixel store, keyed by the file's sha256.

Hashing a 15 GB file on every run would make start-up grow with the dataset, so a file's sha256 is
remembered per (path, size, mtime, inode) (`harness.checksums.remembered_digest`): a changed or
replaced file is hashed (and stored) again. The checksum of the task data made from the stored arrays
(TaskData.sha256, which also covers the card's labels) is remembered in the store per labels digest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.atomic import write_text_atomic
from harness.checksums import remembered_digest
from harness.data.arrays import SPLITS, TaskData
from harness.data.rows import StoredRows
from harness.data.store import Store, build_store, store_root

Write = Callable[[str, tuple[int, ...], np.dtype, Any], None]
CHECKSUMS = "checksums.json"


@dataclass(frozen=True)
class FileStore:
    store: Store

    @property
    def names(self) -> list[str]:
        return self.store.names

    def rows(self, name: str) -> StoredRows:
        return self.store.rows(name)

    def with_checksum(self, data: TaskData) -> TaskData:
        """`data` carrying its TaskData.sha256, computed (one streamed pass) only the first time for these labels."""
        digest = hashlib.sha256()
        for name in SPLITS:
            targets = np.ascontiguousarray(data.split(name).targets)
            digest.update(f"{name}:{targets.dtype}:{targets.shape}".encode() + targets.tobytes())
        key, path = digest.hexdigest(), self.store.folder / CHECKSUMS
        known: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(path.read_text())
        if key not in known:
            known[key] = data.sha256
            with contextlib.suppress(OSError):
                write_text_atomic(path, json.dumps(known))
        return dataclasses.replace(data, known_sha256=known[key])


def stored_file(path: Path, kind: str, stream: Callable[[Path, Write], None]) -> FileStore:
    """The store of `path`'s arrays, written by `stream(path, write)` the first time this file is seen."""
    sha = remembered_digest(path)

    def fill(builder: Any) -> dict[str, Any]:
        stream(path, builder.write)
        return {"source": {"kind": kind, "file": path.name, "sha256": sha}}

    return FileStore(build_store(store_root() / f"{kind}-{sha}", fill))

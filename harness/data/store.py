"""The on-disk pixel store: arrays written once, chunk by chunk, and read by rows (harness.data.rows).

A store is a folder of plain `.npy` files (the CPMID shard format) with a `manifest.json` that lists
each file's shape, type and sha256. It is written into a temporary folder beside its final place and
renamed into place only when every file is complete and its checksum recorded, so a store that a
crash, a kill or a full disk interrupted is never read. Opening one checks every file's length and,
once per file version, its sha256 (`harness.checksums.remembered_digest` keys it by size, mtime and inode of the
files already checked, so a large store is hashed once, not on every run). A store that fails either
check is removed and the error says so: the next run rebuilds it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from harness.atomic import write_text_atomic
from harness.checksums import remember_digest, unverified
from harness.data.arrays import SPLITS, TaskData
from harness.data.rows import NpyFile, StoredRows
from harness.diskerrors import disk_error
from harness.errors import MedbenchError
from harness.paths import medbench_home

STORE_VERSION = 1
MANIFEST = "manifest.json"
CHECKSUMS = "checksums.json"  # TaskData.sha256 of task data made from a store's arrays


def store_root() -> Path:
    return medbench_home() / "store"


@dataclass(frozen=True)
class Store:
    """An opened, verified store folder."""

    folder: Path
    manifest: dict[str, Any]

    def rows(self, name: str) -> StoredRows:
        return StoredRows.of(self.folder / self.manifest["arrays"][name]["file"])

    @property
    def names(self) -> list[str]:
        return list(self.manifest["arrays"])

    def with_checksum(self, data: TaskData) -> TaskData:
        """`data` (made from this store's arrays) carrying its TaskData.sha256, hashed (one streamed pass) only
        the first time: remembered per digest of each split's labels in memory and of the stored rows it takes."""
        digest = hashlib.sha256()
        for name in SPLITS:
            split = data.split(name)
            for array in (split.images, split.targets):
                digest.update(f"{name}:{array.dtype}:{tuple(array.shape)}".encode())
                if not isinstance(array, StoredRows):  # labels in memory
                    digest.update(np.ascontiguousarray(array).tobytes())
                else:  # this store's rows (its files are fixed by its key): which ones
                    digest.update(b"all" if array.index is None else np.ascontiguousarray(array.index, np.int64).tobytes())
        key, path = digest.hexdigest(), self.folder / CHECKSUMS
        known: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(path.read_text())
        if key not in known:
            known[key] = data.sha256
            with contextlib.suppress(OSError):
                write_text_atomic(path, json.dumps(known))
        return dataclasses.replace(data, known_sha256=known[key])


class ArrayWriter:
    """One `.npy` file written row chunk by row chunk; its sha256 is computed as the bytes go out."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.shape, self.dtype = path, tuple(int(d) for d in shape), np.dtype(dtype)
        self.rows = 0
        self._digest = hashlib.sha256()
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(self.dtype),
                                                      "fortran_order": False, "shape": self.shape})
        self._handle = open(path, "wb")
        self._handle.write(header.getvalue())
        self._digest.update(header.getvalue())

    def append(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype)
        if chunk.shape[1:] != self.shape[1:] or self.rows + len(chunk) > self.shape[0]:
            raise MedbenchError(f"{self.path.name}: rows of {chunk.shape[1:]} after {self.rows} do not fit {self.shape}")
        data = memoryview(chunk).cast("B")
        self._handle.write(data)
        self._digest.update(data)
        self.rows += len(chunk)

    def discard(self) -> None:
        self._handle.close()

    def close(self) -> str:
        """Flush and sync; the sha256 of the whole file. Fewer rows than the header promised is an error."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        if self.rows != self.shape[0]:
            raise MedbenchError(f"{self.path.name}: {self.rows} rows written, {self.shape[0]} expected (the input ended early)")
        return self._digest.hexdigest()


class StoreBuilder:
    """Collects arrays in a temporary folder; `commit` makes them the store at `folder` in one rename."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.parent.mkdir(parents=True, exist_ok=True)
        self.temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}.", dir=folder.parent))
        self.arrays: dict[str, dict[str, Any]] = {}

    def write(self, name: str, shape: tuple[int, ...], dtype: np.dtype, chunks: Iterator[np.ndarray]) -> None:
        self.write_together({name: (shape, dtype)}, ((chunk,) for chunk in chunks))

    def write_together(self, layout: dict[str, tuple[tuple[int, ...], np.dtype]],
                       chunks: Iterator[tuple[np.ndarray, ...]]) -> None:
        """Arrays made together (a folder's images and masks, decoded file by file): each chunk is a tuple of
        rows, one part per array in `layout`'s order."""
        writers = {name: ArrayWriter(self.temp / f"{name}.npy", shape, dtype) for name, (shape, dtype) in layout.items()}
        try:
            for parts in chunks:
                for writer, part in zip(writers.values(), parts, strict=True):
                    writer.append(part)
        except BaseException:
            for writer in writers.values():
                writer.discard()
            raise
        for name, writer in writers.items():
            sha = writer.close()
            self.arrays[name] = {"file": writer.path.name, "shape": list(writer.shape), "dtype": writer.dtype.str, "sha256": sha}

    def commit(self, **facts: Any) -> Store:
        """Write the manifest, rename into place and remember the files' sha256s (another process that finished the
        same store first wins; ours is dropped)."""
        manifest = {"format": "medbench-pixel-store", "version": STORE_VERSION, "arrays": self.arrays, **facts}
        (self.temp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        try:
            os.rename(self.temp, self.folder)
        except OSError:
            if not (self.folder / MANIFEST).is_file():
                raise
            shutil.rmtree(self.temp, ignore_errors=True)  # another process finished it first: its files are checked
        else:
            for entry in self.arrays.values():
                remember_digest(self.folder / entry["file"], entry["sha256"])
        return open_store(self.folder)

    def abort(self) -> None:
        shutil.rmtree(self.temp, ignore_errors=True)


def build_store(folder: Path, fill: Callable[[StoreBuilder], dict[str, Any]]) -> Store:
    """The store at `folder`, built by `fill` (which writes arrays and returns manifest facts) when absent or
    broken. A failed build leaves nothing behind; a full disk is one line naming it."""
    if (folder / MANIFEST).is_file():
        return open_store(folder)
    builder = StoreBuilder(folder)
    try:
        facts = fill(builder)
        return builder.commit(**facts)
    except OSError as exc:
        builder.abort()
        problem = disk_error(exc, folder)
        if problem is not None:
            raise MedbenchError(f"writing the pixel store {folder}: {problem} (nothing half-written was kept; "
                                f"MEDBENCH_HOME chooses where the store lives)") from None
        raise
    except BaseException:
        builder.abort()
        raise


def open_store(folder: Path) -> Store:
    """A store whose files are all present, complete and (once per file version) match their sha256;
    a broken one is removed and reported, so the next run rebuilds it."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        arrays = manifest["arrays"]
        for name, entry in arrays.items():
            npy = NpyFile.open(folder / entry["file"])
            if list(npy.shape) != list(entry["shape"]) or npy.dtype.str != entry["dtype"]:
                raise MedbenchError(f"{npy.path} holds {npy.shape} {npy.dtype}, the manifest says {entry['shape']}")
        bad = unverified(folder, {entry["file"]: entry["sha256"] for entry in arrays.values()})
        if bad:
            raise MedbenchError(f"{folder / bad[0]} no longer matches its sha256 in {MANIFEST}")
    except (MedbenchError, OSError, ValueError, KeyError, TypeError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        reason = exc if isinstance(exc, MedbenchError) else f"{type(exc).__name__}: {exc}"
        raise MedbenchError(f"the pixel store {folder} was broken ({reason}); it has been removed: "
                            f"run the command again to rebuild it") from None
    return Store(folder, manifest)

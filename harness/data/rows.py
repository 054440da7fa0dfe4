"""Rows of `.npy` files on disk, read on demand: an array larger than memory that costs only what is read.

`StoredRows` looks like a read-only ndarray to the code that indexes it (`len`, `shape`, `dtype`,
`rows[i]`, `rows[a:b]`, `rows[index_array]` return in-memory arrays) and can be narrowed or joined
without reading anything (`take`, `concat`): a protocol's cap or a CPMID source's seeded order picks
rows before any pixels are read. Rows are read with `pread`, not a memory map, so what a pass over
the data touches stays in the page cache and never counts in the process's resident memory.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.errors import MedbenchError

READ_CHUNK_BYTES = 64 * 2**20  # what one streaming pass holds at a time
SPILL_BYTES = 32 * 2**20  # a RowSpool larger than this moves to disk


@dataclass(frozen=True)
class NpyFile:
    """One C-ordered `.npy` file: where its data start and what they hold, read from its header; or an
    anonymous spill file (`fd`, already deleted, see `RowSpool`) read through its open descriptor."""

    path: Path
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype
    fd: int | None = None

    @classmethod
    def open(cls, path: Path) -> "NpyFile":
        """Header only; a file shorter than its header says (a truncated write or copy) is refused."""
        try:
            with open(path, "rb") as handle:
                version = np.lib.format.read_magic(handle)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(handle)
                offset = handle.tell()
        except (OSError, ValueError) as exc:
            raise MedbenchError(f"{path} is not a readable .npy file ({exc}); delete it so it is rebuilt") from None
        if fortran or dtype.hasobject:
            raise MedbenchError(f"{path} holds a Fortran-ordered or object array; only plain C-ordered arrays are read")
        expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if path.stat().st_size != expected:
            raise MedbenchError(f"{path} is truncated ({path.stat().st_size} bytes, its header says {expected}); "
                                f"delete it so it is rebuilt")
        return cls(Path(path), offset, tuple(int(d) for d in shape), dtype)

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class StoredRows:
    """Rows of one or more `.npy` files of the same row shape, in `index` order (all rows when None)."""

    files: tuple[NpyFile, ...]
    index: np.ndarray | None = None

    @classmethod
    def of(cls, *paths: Path) -> "StoredRows":
        files = tuple(NpyFile.open(Path(p)) for p in paths)
        if len({(f.shape[1:], f.dtype) for f in files}) > 1:
            raise MedbenchError(f"{', '.join(map(str, paths))} hold rows of different shapes or types")
        return cls(files)

    @property
    def _bounds(self) -> np.ndarray:
        return np.cumsum([0, *(f.shape[0] for f in self.files)])

    def __len__(self) -> int:
        return int(self._bounds[-1]) if self.index is None else len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.files[0].shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.files[0].dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def take(self, index: np.ndarray) -> "StoredRows":
        """The rows at `index` (positions in this view), without reading them."""
        index = np.asarray(index, dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise MedbenchError(f"row index out of range 0..{len(self) - 1}")
        return StoredRows(self.files, index if self.index is None else self.index[index])

    @classmethod
    def concat(cls, parts: list["StoredRows"]) -> "StoredRows":
        """One view of several, in order, without reading them."""
        files = tuple(dict.fromkeys(f for p in parts for f in p.files))
        where = {f: start for f, start in zip(files, np.cumsum([0, *(f.shape[0] for f in files)]))}
        index = []
        for part in parts:
            local = np.arange(len(part)) if part.index is None else part.index
            starts = np.array([where[f] for f in part.files], dtype=np.int64)
            file_of = np.searchsorted(part._bounds, local, side="right") - 1
            index.append(starts[file_of] + local - part._bounds[file_of])
        merged = cls(files, np.concatenate(index) if index else np.zeros(0, np.int64))
        if len({(f.shape[1:], f.dtype) for f in files}) > 1:
            raise MedbenchError("rows of different shapes or types cannot be joined")
        return merged

    def __getitem__(self, key: int | slice | np.ndarray) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.read(np.array([key]))[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step == 1 and self.index is None and len(self.files) == 1:  # one contiguous read
                out = np.empty((max(stop - start, 0), *self.files[0].shape[1:]), dtype=self.dtype)
                if len(out):
                    _pread_into(self.files[0], start, out.reshape(len(out), -1).view(np.uint8))
                return out
            return self.read(np.arange(start, stop, step))
        key = np.asarray(key)
        return self.read(np.flatnonzero(key) if key.dtype == bool else key)

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        whole = self.read(np.arange(len(self)))
        return whole if dtype is None else whole.astype(dtype)

    def __iter__(self) -> Iterator[np.ndarray]:
        """One row at a time, read a chunk at a time."""
        for _, chunk in self.chunks():
            yield from chunk

    def read(self, positions: np.ndarray) -> np.ndarray:
        """The rows at `positions` (any order, repeats allowed) as one in-memory array; runs of consecutive
        rows are read with one call each."""
        positions = np.asarray(positions, dtype=np.int64)
        if len(positions) and (positions.min() < -len(self) or positions.max() >= len(self)):
            raise MedbenchError(f"row index out of range 0..{len(self) - 1}")
        out = np.empty((len(positions), *self.files[0].shape[1:]), dtype=self.dtype)
        if not len(positions):
            return out
        positions = positions % len(self)
        rows = positions if self.index is None else self.index[positions]
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        bounds = self._bounds
        file_of = np.searchsorted(bounds, sorted_rows, side="right") - 1
        breaks = np.flatnonzero((np.diff(sorted_rows) != 1) | (np.diff(file_of) != 0)) + 1
        flat = out.reshape(len(out), -1).view(np.uint8)
        buffer = np.empty_like(flat) if not np.all(order == np.arange(len(order))) else flat
        for run in np.split(np.arange(len(sorted_rows)), breaks):
            if not len(run):
                continue
            npy = self.files[file_of[run[0]]]
            first = int(sorted_rows[run[0]] - bounds[file_of[run[0]]])
            _pread_into(npy, first, buffer[run[0]:run[-1] + 1])
        if buffer is not flat:
            flat[order] = buffer
        return out

    def chunks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(start, rows start…start+k) in order, about READ_CHUNK_BYTES at a time."""
        step = rows or max(1, READ_CHUNK_BYTES // max(self.files[0].row_bytes, 1))
        for start in range(0, len(self), step):
            yield start, self.read(np.arange(start, min(start + step, len(self))))


def _pread_into(npy: NpyFile, first_row: int, target: np.ndarray) -> None:
    """Fill `target` (rows × row bytes, uint8) from the file, starting at `first_row`."""
    view = memoryview(target).cast("B")
    offset = npy.offset + first_row * npy.row_bytes
    fd = npy.fd if npy.fd is not None else os.open(npy.path, os.O_RDONLY)
    try:
        done = 0
        while done < len(view):
            got = os.preadv(fd, [view[done:]], offset + done)
            if got == 0:
                raise MedbenchError(f"{npy.path} ended early (truncated while in use?); delete it so it is rebuilt")
            done += got
    finally:
        if npy.fd is None:
            os.close(fd)


def chunks_of(images: "np.ndarray | StoredRows", rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(start, chunk) over an in-memory array or stored rows alike, with bounded memory for the latter."""
    if isinstance(images, StoredRows):
        yield from images.chunks(rows)
        return
    step = rows or max(1, READ_CHUNK_BYTES // max(int(np.prod(images.shape[1:])) * images.dtype.itemsize, 1))
    for start in range(0, len(images), step):
        yield start, np.asarray(images[start:start + step])


def take_rows(array: "np.ndarray | StoredRows", index: np.ndarray) -> "np.ndarray | StoredRows":
    """array[index]; stored rows stay on disk (nothing is read)."""
    return array.take(index) if isinstance(array, StoredRows) else array[index]


def concat_rows(parts: list["np.ndarray | StoredRows"]) -> "np.ndarray | StoredRows":
    """The parts one after another; stored parts are joined without reading them."""
    if len(parts) == 1:
        return parts[0]
    if parts and all(isinstance(p, StoredRows) for p in parts):
        return StoredRows.concat(parts)
    return np.concatenate([np.asarray(p) for p in parts])


class RowSpool:
    """Rows appended a chunk at a time, kept in memory while small and moved to an anonymous file under
    $MEDBENCH_HOME/tmp once past `spill_bytes` (never /tmp, which may be memory); `rows()` is everything
    appended so far, as an ndarray or as `StoredRows`. The file is deleted when opened, so nothing is
    left behind even if the process is killed; its descriptor closes when no view of it remains."""

    def __init__(self, row_shape: tuple[int, ...], dtype: np.dtype, spill_bytes: int = SPILL_BYTES) -> None:
        self.row_shape, self.dtype, self.spill_bytes = tuple(row_shape), np.dtype(dtype), spill_bytes
        self.count = 0
        self._memory: list[np.ndarray] = []
        self._file: NpyFile | None = None
        self._handle: Any = None

    def append(self, chunk: np.ndarray) -> None:
        chunk = np.ascontiguousarray(chunk, dtype=self.dtype).reshape(-1, *self.row_shape)
        if self._handle is None:
            self._memory.append(chunk)
            if (self.count + len(chunk)) * chunk[0:1].nbytes > self.spill_bytes:
                self._spill()
        else:
            self._handle.write(memoryview(chunk).cast("B"))
        self.count += len(chunk)

    def _spill(self) -> None:
        from harness.paths import medbench_home  # noqa: PLC0415 - only spilling needs the home folder

        folder = medbench_home() / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        self._handle = tempfile.TemporaryFile(dir=folder)  # O_TMPFILE or unlinked at once
        for part in self._memory:
            self._handle.write(memoryview(part).cast("B"))
        self._memory = []

    def rows(self) -> "np.ndarray | StoredRows":
        if self._handle is None:
            if len(self._memory) != 1:  # joined once, then appended to
                self._memory = [np.concatenate(self._memory) if self._memory else np.zeros((0, *self.row_shape), self.dtype)]
            return self._memory[0]
        self._handle.flush()
        fd = os.dup(self._handle.fileno())
        npy = NpyFile(Path(f"<spill {fd}>"), 0, (self.count, *self.row_shape), self.dtype, fd)
        weakref.finalize(npy, os.close, fd)
        return StoredRows((npy,))

"""`.npz` members read as streams: the header first, then rows in chunks, never the whole array.

A member is a `.npy` file inside a zip, stored or deflated; `zipfile` inflates a member as it is
read, so a 15 GB MedMNIST+ array passes through a few MB of memory on its way into the pixel store.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from harness.data.rows import READ_CHUNK_BYTES
from harness.errors import MedbenchError

NPZ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError)


def read_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the `.npy` stream at `handle`, which is left at the first data byte."""
    version = np.lib.format.read_magic(handle)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(handle)
    return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype)


def npz_layout(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """{array name: (dtype, shape)} of an `.npz`, read from each member's header without its data."""
    try:
        with zipfile.ZipFile(path) as archive:
            layout = {}
            for member in archive.namelist():
                with archive.open(member) as handle:
                    shape, _, dtype = read_header(handle)
                layout[member.removesuffix(".npy")] = (dtype.str, shape)
            return layout
    except NPZ_ERRORS as exc:
        raise MedbenchError(f"{path} is not a readable .npz ({exc})") from None


def stream_member(path: Path, name: str, chunk_bytes: int = READ_CHUNK_BYTES) -> Iterator[np.ndarray]:
    """The rows of array `name` of the `.npz` at `path`, a chunk at a time (C-ordered, no pickles)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{name}.npy") as handle:
            shape, fortran, dtype = read_header(handle)
            if fortran or dtype.hasobject:
                raise MedbenchError(f"{path}: {name} is a Fortran-ordered or object array; save it C-ordered without pickles")
            row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
            rows = shape[0] if shape else 0
            step = max(1, chunk_bytes // max(row_bytes, 1))
            for start in range(0, rows, step):
                count = min(step, rows - start)
                data = _read_exactly(handle, count * row_bytes)
                if len(data) < count * row_bytes:
                    raise MedbenchError(f"{path}: {name} ends after {start} rows, its header says {rows}; "
                                        f"the file is truncated — download it again")
                yield np.frombuffer(data, dtype=dtype).reshape(count, *shape[1:])
    except NPZ_ERRORS as exc:
        raise MedbenchError(f"{path} is not a readable .npz (truncated or corrupt: {exc}); download it again") from None


def _read_exactly(handle: IO[bytes], size: int) -> bytearray:
    """Up to `size` bytes (fewer only at the end of the member) into one buffer."""
    out = bytearray(size)
    view, done = memoryview(out), 0
    while done < size:
        got = handle.readinto(view[done:]) if hasattr(handle, "readinto") else 0
        if not got:
            break
        done += got
    return out if done == size else out[:done]

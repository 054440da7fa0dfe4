"""Decompressed-size caps for zip-based files from strangers (torch.save checkpoints, `.npz` arrays).

A size cap on the file itself says nothing about what it inflates to: a 1 MB deflated member can
hold 1 GiB of zeros. Both readers we hand such files to (zipfile, used by numpy, and torch's miniz
reader) allocate and stop at each member's size declared in the central directory, so checking the
declared sizes before reading bounds the memory a file can take, without decompressing anything.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import IO

from harness.errors import MedbenchError

MAX_RATIO = 100  # decompressed / compressed bytes; real checkpoints are stored (1×), image arrays deflate ~2–10×


def check_zip(source: Path | bytes, where: str, max_total: int, max_ratio: int = MAX_RATIO) -> int:
    """Refuse a zip whose members would inflate past `max_total` bytes or `max_ratio` × the file's size;
    return the total declared size. A file that is not a readable zip is left to its reader to report."""
    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    handle: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    try:
        with handle, zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return 0
    total = sum(member.file_size for member in members)
    limit = min(max_total, max(size, 1) * max_ratio)
    if total > limit:
        raise MedbenchError(f"{where} would decompress to {total:,} bytes from {size:,} "
                            f"(limit {limit:,}: at most {max_ratio}× its size and {max_total:,} bytes); "
                            "it is a zip bomb or not the file you meant")
    return total

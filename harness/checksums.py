"""Checksums of files, streamed in blocks so a multi-GB shard or weights file never sits in memory."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from harness.atomic import write_text_atomic
from harness.paths import medbench_home

BLOCK = 1 << 20


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(folder: Path) -> Path:
    """Where the stamp of `folder` lives: under $MEDBENCH_HOME, so verifying never writes into the data folder."""
    return medbench_home() / "verified" / f"{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()}.json"


def unverified(folder: Path, expected: dict[str, str]) -> list[str]:
    """Files of `folder` (relative name → sha256) that do not match their checksum.

    Each file is hashed once per version: a stamp under $MEDBENCH_HOME remembers size, mtime and inode of the
    files that matched, so opening a many-GB set again costs a stat per file, not a pass over its bytes.
    Missing files are reported too."""
    stamp: dict[str, list] = {}
    with contextlib.suppress(OSError, ValueError):
        stamp = json.loads(_stamp_path(folder).read_text())
    bad, changed = [], False
    for rel, sha in sorted(expected.items()):
        path = folder / rel
        try:
            stat = path.stat()
        except OSError:
            bad.append(rel)
            continue
        state = [stat.st_size, stat.st_mtime_ns, stat.st_ino, sha]
        if stamp.get(rel) == state:
            continue
        if file_digest(path) != sha:
            bad.append(rel)
            stamp.pop(rel, None)
        else:
            stamp[rel], changed = state, True
    if changed:
        _write_stamp(folder, stamp)
    return bad


def mark_verified(folder: Path, expected: dict[str, str]) -> None:
    """Stamp files whose sha256 was computed as they were written, so `unverified` does not hash them again."""
    stamp = {}
    for rel, sha in expected.items():
        stat = (folder / rel).stat()
        stamp[rel] = [stat.st_size, stat.st_mtime_ns, stat.st_ino, sha]
    _write_stamp(folder, stamp)


def _write_stamp(folder: Path, stamp: dict[str, list]) -> None:
    with contextlib.suppress(OSError):  # an unwritable home means hashing again next time, nothing worse
        write_text_atomic(_stamp_path(folder), json.dumps(stamp))

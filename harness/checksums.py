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


def _note(path: Path) -> Path:
    """Where the digest of this version of `path` (its place, size, mtime and inode) is remembered: under
    $MEDBENCH_HOME, so checking a file never writes beside it."""
    stat = path.stat()
    version = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    return medbench_home() / "digests" / f"{hashlib.sha256(version.encode()).hexdigest()}.json"


def remembered_digest(path: Path) -> str:
    """The file's sha256, computed once per version of the file: opening a many-GB set or data file again costs a
    stat, not a pass over its bytes. A changed, replaced or touched file is hashed again."""
    note = _note(path)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads(note.read_text())["sha256"])
    sha = file_digest(path)
    remember_digest(path, sha)
    return sha


def remember_digest(path: Path, sha: str) -> None:
    """Record a sha256 computed as the file was written, so `remembered_digest` does not hash it again."""
    with contextlib.suppress(OSError):  # an unwritable home means hashing again next time, nothing worse
        write_text_atomic(_note(path), json.dumps({"sha256": sha, "file": str(path)}))


def unverified(folder: Path, expected: dict[str, str]) -> list[str]:
    """Files of `folder` (relative name → sha256) that are missing or do not match their checksum."""
    return [rel for rel, sha in sorted(expected.items())
            if not (folder / rel).is_file() or remembered_digest(folder / rel) != sha]

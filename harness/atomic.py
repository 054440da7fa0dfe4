"""Atomic file writes: a temp file in the same folder, fsync, world-readable, rename.

Readers (and a run killed mid-write) never see half a record, shard or checkpoint. A temp file names
the process that writes it, so one left behind by a killed process (SIGKILL runs no cleanup) is removed
by the next write to the same path.
"""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

from harness.processes import pid_alive


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphaned_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results and datasets are meant to be shared
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # a failed write or fsync names no file: name the one being written
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode()))


def temp_pattern(name: str) -> str:
    """Glob (and fnmatch) pattern of the temp files `write_atomic` makes for the file `name`."""
    return f".{glob.escape(name)}.*.tmp"


def remove_orphaned_temps(path: Path) -> list[Path]:
    """Delete temp files of `path` whose writing process no longer exists; returns what was removed."""
    removed = []
    for tmp in path.parent.glob(temp_pattern(path.name)):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed

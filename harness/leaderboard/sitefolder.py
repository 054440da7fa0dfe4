"""Put a built site into a folder that may also hold things medbench did not write (`.git`, `CNAME`, a README).

A site folder carries a manifest (SITE_MARKER) of the files the last build wrote. A new build is made
in a staging folder first (a failed build touches nothing), then its files replace the old build's
files, and only files named in the old manifest are ever deleted; a file of the user's where the new
build would write is refused before anything changes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from harness.errors import MedbenchError

SITE_MARKER = ".medbench-site"  # only folders carrying it are ever updated
# What builds wrote before the marker listed its files: their top-level entries.
LEGACY_ENTRIES = ("index.html", "efficiency.html", "regimes.html", "task", "entry", "cams", "data", "static")


def site_files(folder: Path) -> list[str]:
    """Relative paths of the regular files under `folder` (the marker excluded), sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.is_symlink() and p.name != SITE_MARKER)


def written_before(out: Path) -> set[str]:
    """The files the previous build wrote, from its manifest (or, for an older build, its known entries)."""
    try:
        listed = json.loads((out / SITE_MARKER).read_text()).get("files")
    except (OSError, ValueError, AttributeError):  # a new empty folder has no manifest
        listed = None
    if isinstance(listed, list) and all(isinstance(p, str) for p in listed):
        return set(listed)
    return {p for p in site_files(out) if p.split("/", 1)[0] in LEGACY_ENTRIES}


def replace_folder(out: Path, fill: Callable[[Path], object]) -> None:
    """Build with `fill(staging)`, then make `out` hold the new build beside whatever else the user keeps there."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / SITE_MARKER).is_file())):
        raise MedbenchError(f"{out} exists and is not a medbench site; pass an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fill(staging)
        new = site_files(staging)
        old = written_before(out) if out.is_dir() else set()
        clash = next((p for p in new if p not in old and (out / p).exists()), None)
        if clash is not None:
            raise MedbenchError(f"{out / clash} was not written by medbench and the new build would overwrite it; "
                                "move it away or publish to another folder")
        for rel in new:
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(staging / rel, 0o644)
            os.replace(staging / rel, target)
        for rel in sorted(old - set(new)):
            (out / rel).unlink(missing_ok=True)
        _remove_empty_dirs(out, {str(Path(rel).parent) for rel in old - set(new)})
        os.chmod(out, 0o755)
        (out / SITE_MARKER).write_text(json.dumps({"written_by": "medbench leaderboard", "files": new}, indent=1) + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _remove_empty_dirs(out: Path, parents: set[str]) -> None:
    """Folders the old build's files sat in, deepest first, when nothing is left in them."""
    for rel in sorted(parents - {"."}, key=lambda p: -p.count("/")):
        folder = out / rel
        while folder != out and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent

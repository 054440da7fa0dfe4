"""The copy matcher's catalogue of a built CPMID, stored beside its shards.

A task the recipe did not list can then be screened against the build when a run starts, without
rebuilding it: the working images (4 KB each), exact digests and source of every kept picture are
written once at build time as plain `.npy` files (loaded with `allow_pickle=False`), and their
sha256s go into manifest.json like the shards'.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.checksums import file_digest
from harness.copies import Catalogue
from harness.cpmid.shards import save_npy_atomic, verify_files
from harness.data.rows import StoredRows
from harness.errors import MedbenchError

FINGERPRINT_DIR = "fingerprints"
_PARTS = ("work", "digests", "sources")
WHAT = ("the shared copy matcher's catalogue of every kept picture (train and val): working image, exact digest "
        "and source index, in screening order")


def save_fingerprints(out: Path, catalogue: Catalogue) -> dict[str, Any]:
    """Write the catalogue's three arrays; returns the manifest entry (files and their sha256)."""
    arrays = {"work": catalogue.work, "digests": np.array(catalogue.digests, dtype="<U64"),
              "sources": catalogue.sources.astype(np.int64)}
    (out / FINGERPRINT_DIR).mkdir(parents=True, exist_ok=True)
    files = {}
    for part in _PARTS:
        rel = f"{FINGERPRINT_DIR}/{part}.npy"
        save_npy_atomic(out / rel, arrays[part])  # the working images a chunk at a time when they are on disk
        files[rel] = file_digest(out / rel)
    return {"what": WHAT, "images": len(catalogue), "sha256": files}


def load_fingerprints(folder: Path, manifest: dict[str, Any]) -> Catalogue | None:
    """The stored catalogue after checking its sha256s; None for a build made before fingerprints were kept."""
    entry = manifest.get("fingerprints")
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), dict):
        return None
    expected = {str(rel): str(sha) for rel, sha in entry["sha256"].items()}
    if set(expected) != {f"{FINGERPRINT_DIR}/{part}.npy" for part in _PARTS}:
        raise MedbenchError(f"{folder}/manifest.json: its fingerprints entry lists unexpected files; rebuild the set")
    verify_files(folder, expected)
    work = StoredRows.of(folder / FINGERPRINT_DIR / "work.npy")  # read by rows: 4 KB a picture stays on disk
    digests, sources = (np.load(folder / FINGERPRINT_DIR / f"{part}.npy", allow_pickle=False) for part in _PARTS[1:])
    if not len(work) == len(digests) == len(sources):
        raise MedbenchError(f"{folder}/{FINGERPRINT_DIR}: its arrays differ in length; rebuild the set")
    return Catalogue(work, [str(d) for d in digests], sources.astype(np.int64))

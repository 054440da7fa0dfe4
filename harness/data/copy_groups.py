"""Copy clusters of a folder dataset's files, for cards that keep copies in one split (`copies: together`).

Some releases are copies of themselves (LC25000: rotated and mirrored versions of 250 originals per
class), so an image-level split puts a picture's copies on both sides. The shared matcher
(`harness.copies`) clusters the files once; the clusters are cached under $MEDBENCH_HOME/copies, keyed
by the files' contents and the matcher's rule, because clustering a few thousand files takes minutes.
Files are decoded one at a time (the matcher keeps a 4 KB working image of each), with progress shown.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from harness.cache import READ_ERRORS, read_json, write_json
from harness.errors import MedbenchError
from harness.paths import medbench_home

CLUSTER_VERSION = 1  # bump when what is fed to the matcher changes: it is part of the cache key


def copy_cluster_ids(paths: Sequence[Path], progress: bool = True) -> np.ndarray:
    """A cluster id per file (equal ids ⇔ linked by copies), from the cache when files and rule are unchanged."""
    from harness.copies import DEFAULT_RULE, copy_clusters

    key = _cache_key(paths, DEFAULT_RULE.describe())
    cache = medbench_home() / "copies" / f"{key}.json"
    cached = _read(cache, len(paths))
    if cached is not None:
        return cached
    clusters = copy_clusters(_decoded(paths, progress), DEFAULT_RULE)
    write_json(cache, {"version": CLUSTER_VERSION, "clusters": clusters.tolist()})
    return clusters


def _cache_key(paths: Sequence[Path], rule: dict) -> str:
    """sha256 of every file's bytes, in order, and the matcher's rule: the same files give the same key
    wherever they sit."""
    digest = hashlib.sha256(json.dumps({"version": CLUSTER_VERSION, "rule": rule}, sort_keys=True).encode())
    for path in paths:
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError as exc:
            raise MedbenchError(f"cannot read {path} ({exc.strerror}); replace or remove the file") from None
    return digest.hexdigest()[:24]


def _read(path: Path, n: int) -> np.ndarray | None:
    raw = read_json(path)
    try:
        clusters = np.asarray(raw["clusters"], dtype=np.int64)
    except READ_ERRORS:
        return None
    return clusters if raw.get("version") == CLUSTER_VERSION and clusters.shape == (n,) else None


def _decoded(paths: Sequence[Path], progress: bool) -> Iterator[np.ndarray]:
    """The files' pixels one at a time, as stored (gray or RGB); the matcher shrinks each at once."""
    auto = None  # tqdm: shown only on a terminal
    bar = tqdm(paths, desc="copy clusters: reading files", unit="img", disable=auto if progress else True,
               file=sys.stderr, leave=False)
    for path in bar:
        try:
            with Image.open(path) as image:
                image.draft(image.mode, (256, 256))  # JPEG: decode at a reduced scale; the matcher works at 64 px
                yield np.asarray(image.convert("L" if image.mode in ("L", "I", "I;16", "F", "1") else "RGB"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise MedbenchError(f"cannot read image {path} ({exc}); replace or remove the file") from None

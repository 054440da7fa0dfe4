"""Frozen features: pooled backbone outputs (timm's pre-logits), extracted once and cached.

A cache entry is keyed by what the features depend on: a checksum of the backbone weights as
loaded (so a scratch init at another seed is another entry), a checksum of the split's pixels at
the run's size, the backbone name, the normalisation and the precision. Linear probes, kNN and
every label budget of one (init, backbone, task, size) reuse one extraction. Entries live under
$MEDBENCH_HOME/features; each stores a checksum of its features, and an entry that fails it (or
does not load) is recomputed and overwritten, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.cache import READ_ERRORS, read_arrays, write_arrays
from harness.data.batches import BatchTransform
from harness.data.prepare import PreparedSplit
from harness.paths import medbench_home

FEATURE_VERSION = 1  # bump when extraction changes what a cached entry holds


def cache_dir() -> Path:
    return medbench_home() / "features"


def backbone_sha256(model: nn.Module) -> str:
    """Checksum of every parameter and buffer except the classifier head (its random init does not change features)."""
    head = {id(t) for t in model.get_classifier().parameters()} if hasattr(model, "get_classifier") else set()
    digest = hashlib.sha256()
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if id(tensor) not in head:
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _features_sha256(features: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(features).tobytes()).hexdigest()


@torch.no_grad()
def extract(model: nn.Module, split: PreparedSplit, transform: BatchTransform, batch_size: int,
            autocast: torch.autocast) -> np.ndarray:
    """(N, D) float32 pre-logit features of a split, in eval mode and without augmentation."""
    model.eval()
    out = []
    for images, _, _ in split.eval_batches(batch_size):
        x, _ = transform(images)
        with autocast:
            out.append(model.forward_head(model.forward_features(x), pre_logits=True).float().flatten(1).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class FeatureSet:
    features: dict[str, np.ndarray]  # split name → (N, D)
    cache: dict[str, str]  # split name → hit | computed | recomputed (why)
    seconds: float


def _load(path: Path, key: str, rows: int) -> tuple[np.ndarray | None, str]:
    """The cached features when the entry is intact and is the one asked for; else None and why not."""
    if not path.is_file():
        return None, "computed"
    entry = read_arrays(path, ("meta", "features"))
    try:
        meta, features = json.loads(str(entry["meta"])), entry["features"]
    except READ_ERRORS:  # entry None (absent between the check and the read, unreadable) or meta not JSON
        return None, "recomputed (cached file unreadable)"
    if meta.get("key") != key or features.shape[0] != rows or meta.get("features_sha256") != _features_sha256(features):
        return None, "recomputed (cached file failed its checksum)"
    return features, "hit"


def _save(path: Path, key: str, identity: dict[str, Any], features: np.ndarray) -> None:
    meta = json.dumps({"key": key, "identity": identity, "shape": list(features.shape),
                       "features_sha256": _features_sha256(features)}, sort_keys=True)
    write_arrays(path, features=features, meta=np.array(meta))


def cached_features(model: nn.Module, splits: dict[str, PreparedSplit], transform: BatchTransform, identity: dict[str, Any],
                    batch_size: int, autocast: torch.autocast) -> FeatureSet:
    """Features of every split, from the cache where an intact entry exists, else extracted and stored."""
    tic = time.perf_counter()
    weights = backbone_sha256(model)
    features, cache = {}, {}
    for name, split in splits.items():
        full_identity = {**identity, "weights_sha256": weights, "pixels_sha256": split.pixels_sha256(),
                         "version": FEATURE_VERSION}
        key = hashlib.sha256(json.dumps(full_identity, sort_keys=True).encode()).hexdigest()
        path = cache_dir() / key[:2] / f"{key}.npz"
        features[name], cache[name] = _load(path, key, len(split))
        if features[name] is None:
            features[name] = extract(model, split, transform, batch_size, autocast)
            _save(path, key, full_identity, features[name])
    return FeatureSet(features, cache, time.perf_counter() - tic)

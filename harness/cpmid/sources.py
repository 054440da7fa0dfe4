"""Turn a recipe source into candidate images: resolve its task card, load the chosen splits, cap.

Candidates come out in a seeded order that is also the order hygiene sees them in, so "the first
occurrence is kept" means the same image on every build.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.cpmid.recipe import SOURCE_KINDS, RecipeSource
from harness.data import load_data
from harness.data.arrays import SPLITS
from harness.data.rows import StoredRows, concat_rows, take_rows
from harness.errors import MedbenchError
from harness.kinds import TaskKind
from harness.tasks import SourceSpec, TaskSpec, get_task

MEDMNIST_NATIVE_SIZE = 28  # MedMNIST+ names its 28-px files `<flag>.npz`, the others `<flag>_<size>.npz`


@dataclass(frozen=True)
class ResolvedSource:
    """A recipe source with its task card (real or made up for a loader source) and metadata."""

    source: RecipeSource
    spec: TaskSpec

    @property
    def modality(self) -> str:
        return self.source.modality or self.spec.modality

    @property
    def license(self) -> str:
        return self.source.license or self.spec.license

    @property
    def citation(self) -> str:
        return self.source.citation or self.spec.citation

    def describe(self) -> dict[str, Any]:
        """What the manifest records about where this source's images came from."""
        src = self.source
        origin = {"task": src.task} if src.task else {"loader": src.loader, "args": self.spec.source.args}
        return {"name": src.name, **origin, "kind": self.spec.kind, "label_names": list(self.spec.label_names),
                "splits": list(src.splits), "cap": src.cap, "cap_per_class": src.cap_per_class,
                "modality": self.modality, "license": self.license, "citation": self.citation,
                "homepage": self.spec.homepage}


@dataclass(frozen=True)
class Candidates:
    images: np.ndarray | StoredRows  # (N, H, W, C) uint8, in screening order
    targets: np.ndarray  # (N, K) uint8 multi-hot over the source's own classes
    origin: np.ndarray  # (N, 2) int64: index into SPLITS, index within that split
    available: int  # images in the chosen splits before caps
    input_sha256: str  # TaskData.sha256 of everything the loader returned


def expand_args(args: dict[str, Any], size: int) -> dict[str, Any]:
    """Fill `{size}` in string args; at 28 px `_{size}` disappears (MedMNIST+ file naming)."""
    def expand(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if size == MEDMNIST_NATIVE_SIZE:
            value = value.replace("_{size}", "")
        return value.replace("{size}", str(size))
    return {key: expand(value) for key, value in args.items()}


def resolve(source: RecipeSource, size: int, channels: int) -> ResolvedSource:
    if source.task is not None:
        spec = get_task(source.task)
        if spec.kind not in SOURCE_KINDS:
            raise MedbenchError(f"source {source.name}: task {spec.name} is {spec.kind}; CPMID takes classification tasks only")
        return ResolvedSource(source, spec)
    if source.kind == TaskKind.BINARY and len(source.label_names) != 2:
        raise MedbenchError(f"source {source.name}: a binary source needs exactly 2 label_names, got {len(source.label_names)}")
    spec = TaskSpec(name=source.name, kind=TaskKind(source.kind), description=f"CPMID source {source.name}",
                    source=SourceSpec(str(source.loader), expand_args(source.args, size)),
                    label_names=source.label_names, channels=channels, image_size=size,
                    splits={split: 0 for split in SPLITS}, metrics=(), license=source.license,
                    citation=source.citation, modality=source.modality)
    return ResolvedSource(source, spec)


def load_candidates(resolved: ResolvedSource, data_dir: Path | None, seed: int) -> Candidates:
    """The chosen splits of one source, capped, in the seeded screening order."""
    data = load_data(resolved.spec, data_dir)
    parts = [data.split(split) for split in resolved.source.splits]
    targets = np.concatenate([_multi_hot(p.targets, resolved) for p in parts])
    origin = np.concatenate([np.stack([np.full(len(p), SPLITS.index(s)), np.arange(len(p))], axis=1)
                             for s, p in zip(resolved.source.splits, parts)]).astype(np.int64)
    rng = np.random.default_rng([seed, zlib.crc32(resolved.source.name.encode())])
    order = _capped_order(rng.permutation(len(targets)), targets, resolved.source)
    images = concat_rows([p.images for p in parts])  # stored pixels stay on disk: the build reads them in chunks
    return Candidates(take_rows(images, order), targets[order], origin[order], len(targets), data.sha256)


def _multi_hot(targets: np.ndarray, resolved: ResolvedSource) -> np.ndarray:
    classes = resolved.spec.num_classes
    if resolved.spec.kind.multilabel:
        if targets.ndim != 2 or targets.shape[1] != classes:
            raise MedbenchError(f"source {resolved.source.name}: expected (N, {classes}) multilabel targets, got {targets.shape}")
        return (targets > 0).astype(np.uint8)
    return np.eye(classes, dtype=np.uint8)[targets.astype(np.int64)]


def _capped_order(order: np.ndarray, targets: np.ndarray, source: RecipeSource) -> np.ndarray:
    """Keep the first `cap_per_class` of each class, then the first `cap`, in the seeded order."""
    if source.cap_per_class is not None:
        classes = targets[order].argmax(axis=1)
        rank = np.zeros(len(order), dtype=np.int64)
        for c in np.unique(classes):
            rank[classes == c] = np.arange(int((classes == c).sum()))
        order = order[rank < source.cap_per_class]
    return order[:source.cap] if source.cap is not None else order

"""The `synthetic` loader: a card's three splits drawn from a phantom family (harness.data.phantoms),
cached under $MEDBENCH_HOME/synthetic per family, data seed, size, split and count."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.cache import read_arrays, write_arrays
from harness.data.arrays import SPLITS, ArrayDataset, TaskData
from harness.data.loader import LOADERS, DataStatus, Loader
from harness.data.phantoms.families import FAMILIES, SyntheticFamily
from harness.data.phantoms.generate import GENERATOR_VERSION, generate
from harness.errors import MedbenchError
from harness.paths import medbench_home

if TYPE_CHECKING:
    from harness.tasks import TaskSpec


def _cache_path(family: str, seed: int, size: int, split: str, n: int) -> Path:
    return medbench_home() / "synthetic" / f"{family}-s{seed}-{size}px-{split}-{n}-v{GENERATOR_VERSION}.npz"


def _read_cache(path: Path, n: int, size: int, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The cached split, or None when it is missing, unreadable or of the wrong shape."""
    arrays = read_arrays(path, ("images", "labels", "masks"))
    if arrays is None:
        return None
    images, labels, masks = arrays["images"], arrays["labels"], arrays["masks"]
    if images.shape != (n, size, size, channels) or labels.shape != (n,) or masks.shape != (n, size, size):
        return None
    return images, labels, masks


def split_seed(seed: int, split: str) -> int:
    """Disjoint streams per split, derived from the task's data seed."""
    return int(np.random.SeedSequence([int(seed), zlib.crc32(split.encode())]).generate_state(1, np.uint32)[0])


def cached_generate(family: str, n: int, size: int, seed: int, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`generate` for one split of a data seed, through the on-disk cache."""
    fam = FAMILIES.get(family)
    path = _cache_path(fam.name, seed, size, split, n)
    arrays = _read_cache(path, n, size, fam.channels)
    if arrays is None:
        arrays = generate(fam.name, n, size, split_seed(seed, split))
        write_arrays(path, images=arrays[0], labels=arrays[1], masks=arrays[2])
    return arrays


_ARGS = {"family", "seed"}


def _check_args(spec: TaskSpec, args: dict[str, Any]) -> tuple[SyntheticFamily, int]:
    unknown = sorted(set(args) - _ARGS)
    if unknown:
        raise MedbenchError(f"task {spec.name}: unknown synthetic source arg(s) {', '.join(unknown)}; "
                            "allowed: family, seed")
    if "family" not in args:
        raise MedbenchError(f"task {spec.name}: source.args.family is required (one of {', '.join(FAMILIES.names())})")
    fam = FAMILIES.get(str(args["family"]))
    seed = args.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise MedbenchError(f"task {spec.name}: source.args.seed must be a non-negative integer, not {seed!r}")
    if spec.channels != fam.channels:
        raise MedbenchError(f"task {spec.name}: channels is {spec.channels} but family {fam.name} has {fam.channels}")
    expected = 2 if spec.kind.segmentation else fam.num_classes
    if spec.num_classes != expected:
        raise MedbenchError(f"task {spec.name}: needs {expected} label_names for family {fam.name}, "
                            f"got {spec.num_classes}")
    return fam, seed


def load_synthetic(spec: TaskSpec, args: dict[str, Any], data_dir: Path | None) -> TaskData:
    """Generate (or read from cache) the three splits; `data_dir` is unused, nothing is downloaded."""
    fam, seed = _check_args(spec, args)
    splits = []
    for split in SPLITS:
        images, labels, masks = cached_generate(fam.name, spec.splits[split], spec.image_size, seed, split)
        if spec.kind.segmentation:
            splits.append(ArrayDataset(images, masks))
        else:
            splits.append(ArrayDataset(images, labels, masks))
    return TaskData(*splits)


def synthetic_status(spec: TaskSpec, args: dict[str, Any], data_dir: Path | None) -> DataStatus:
    """Synthetic tasks are rendered on first use and cached: never missing, nothing to download."""
    return DataStatus("generated", str(medbench_home() / "synthetic"))


LOADERS.add("synthetic", Loader(load_synthetic, synthetic_status))

"""MedMNIST / MedMNIST+ `.npz` files in their published layout.

Keys `{split}_images` (N×H×W gray or N×H×W×3 RGB, uint8) and `{split}_labels` (N×L, or N as some
re-saved copies have it). Files are looked up by their published names in `--data-dir` (default:
the current folder), then in `$MEDBENCH_HOME/data`, where `medbench data fetch` puts them.

A file whose arrays fit in memory (harness.data.placement) is read whole, as it always was. A larger
one is streamed, member by member and chunk by chunk, into the pixel store once (keyed by the file's
sha256, itself remembered per file size, mtime and inode), and its images are then read by rows.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.data.arrays import SPLITS, ArrayDataset, TaskData
from harness.data.checks import card_labels
from harness.data.download import default_data_dir
from harness.data.loader import LOADERS, DataStatus, Loader
from harness.data.npz import npz_layout, stream_member
from harness.data.placement import place
from harness.data.rows import StoredRows
from harness.data.sourcefiles import stored_file
from harness.errors import MedbenchError
from harness.zipcap import check_zip

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

MAX_NPZ_BYTES = 64 * 1024**3  # MedMNIST+'s largest file (tissuemnist_224) inflates to ~40 GB


def candidate_paths(args: dict[str, Any], data_dir: Path | None) -> list[Path]:
    """Where the card's file may be, in lookup order: `data_dir` (default: the current folder), then
    `$MEDBENCH_HOME/data`."""
    return list(dict.fromkeys([(data_dir or Path(".")) / args["file"], default_data_dir() / args["file"]]))


def medmnist_path(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> Path:
    """The first candidate that exists; the error names every place looked and how to get the file."""
    places = candidate_paths(args, data_dir)
    for path in places:
        if path.is_file():
            return path
    fix = f"run `medbench data fetch {spec.name}` or pass" if spec.url else "put the MedMNIST file there or pass"
    raise MedbenchError(f"{args['file']} not found (looked for {' and '.join(map(str, places))}): "
                        f"{fix} --data-dir to the folder holding it")


def medmnist_status(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> DataStatus:
    """present (where found), else downloadable or missing at the place fetch would put it."""
    found = next((path for path in candidate_paths(args, data_dir) if path.is_file()), None)
    if found is not None:
        return DataStatus("present", str(found))
    return DataStatus("downloadable" if spec.url else "missing", str((data_dir or default_data_dir()) / args["file"]))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    check_zip(path, str(path), MAX_NPZ_BYTES)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise MedbenchError(f"{path} is not a readable .npz (truncated or corrupt: {exc}); download it again") from None


def _split(arrays: dict[str, np.ndarray | StoredRows], split: str, spec: "TaskSpec", path: Path) -> ArrayDataset:
    for key in (f"{split}_images", f"{split}_labels"):
        if key not in arrays:
            raise MedbenchError(f"{path} has no '{key}' array (found: {', '.join(sorted(arrays))}); is it a MedMNIST file?")
    images, labels = arrays[f"{split}_images"], np.asarray(arrays[f"{split}_labels"])
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise MedbenchError(f"{path}: {split}_images must be uint8 N×H×W[×3], got {images.dtype} {images.shape}")
    if len(images) != len(labels):
        raise MedbenchError(f"{path}: {split} has {len(images)} images but {len(labels)} labels")
    if images.ndim == 3:  # stored gray images are already written N×H×W×1
        images = np.ascontiguousarray(images[..., None])
    targets = card_labels(labels, spec, f"{path}: {split}_labels")
    return ArrayDataset(images, targets)


def load_medmnist(spec: "TaskSpec", args: dict[str, Any], data_dir: Path | None) -> TaskData:
    path = medmnist_path(spec, args, data_dir)
    total = check_zip(path, str(path), MAX_NPZ_BYTES)
    if place(total).in_memory:
        arrays = _read_npz(path)
        return TaskData(*(_split(arrays, split, spec, path) for split in SPLITS))
    store = stored_file(path, "npz", _stream_npz)
    data = TaskData(*(_split({name: store.rows(name) for name in store.names}, split, spec, path) for split in SPLITS))
    return store.with_checksum(data)


def _stream_npz(path: Path, write: Any) -> None:
    """Every member of the `.npz` into the store, a chunk at a time; gray images become N×H×W×1."""
    for name, (dtype, shape) in npz_layout(path).items():
        if name.endswith("_images") and len(shape) == 3:
            shape = (*shape, 1)
        write(name, shape, np.dtype(dtype),
              (chunk.reshape(len(chunk), *shape[1:]) for chunk in stream_member(path, name)))


def describe_medmnist_layout(path: Path) -> str:
    """'train 546 / val 78 / test 156 of 28×28×1' for a file in MedMNIST's layout; a MedbenchError naming
    what is wrong otherwise (a truncated download, another kind of file)."""
    layout = npz_layout(path)
    counts = []
    for split in SPLITS:
        images, labels = layout.get(f"{split}_images"), layout.get(f"{split}_labels")
        if images is None or labels is None:
            raise MedbenchError(f"{path} has no {split}_images/{split}_labels arrays: not a MedMNIST file")
        if images[0] != "|u1" or len(images[1]) not in (3, 4) or images[1][0] != labels[1][0]:
            raise MedbenchError(f"{path}: {split} arrays are not MedMNIST's (images {images}, labels {labels})")
        counts.append(f"{split} {images[1][0]}")
    pixels = "×".join(str(d) for d in layout["train_images"][1][1:])
    return f"{' / '.join(counts)} of {pixels}"


LOADERS.add("medmnist", Loader(load_medmnist, medmnist_status))

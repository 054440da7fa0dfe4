"""Hostile `.npz` data files: labels of the wrong type, range or width; empty splits; zip bombs; corrupt files.

Each file is read through a MedMNIST-style card (`source.loader: medmnist`) from a task folder of its own."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.data import load_data
from harness.data.checks import check_not_empty, split_size_warning
from harness.errors import MedbenchError
from harness.tasks import parse_card
from tests.hostile.conftest import case

N = 6


def _card(kind: str = "binary", labels: tuple[str, ...] = ("no", "yes")) -> Any:
    return parse_card({
        "name": "hostile-npz", "kind": kind, "description": "corpus", "license": "CC0", "citation": "none",
        "source": {"loader": "medmnist", "args": {"file": "hostile.npz"}}, "label_names": list(labels),
        "channels": 1, "image_size": 28, "splits": {"train": N, "val": N, "test": N}, "metrics": ["auroc"]}, "hostile.yaml")


def _arrays(**change: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 255, (N, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = np.array([[0], [1]] * (N // 2), dtype=np.uint8)
    arrays.update(change)
    return {key: value for key, value in arrays.items() if value is not None}


def _write(folder: Path, **change: Any) -> Path:
    np.savez(folder / "hostile.npz", **_arrays(**change))
    return folder


REFUSED = [
    case("float-labels-fractional", {"train_labels": np.array([[0.0], [0.7]] * 3)}, "fractional", risk="silent"),
    case("float-labels-nan", {"train_labels": np.array([[0.0], [np.nan]] * 3)}, "fractional or non-finite",
         risk="silent", issue=False),
    case("labels-three-columns-on-binary", {"train_labels": np.zeros((N, 3), dtype=np.uint8)}, "3 columns",
         risk="silent"),
    case("labels-out-of-range", {"val_labels": np.array([[0], [2]] * 3)}, "labels outside 0..1", risk="silent",
         issue=False),
    case("labels-negative", {"test_labels": np.array([[0], [-1]] * 3)}, "labels outside 0..1", risk="silent",
         issue=False),
    case("labels-text", {"train_labels": np.array([["a"], ["b"]] * 3)}, "not numbers", risk="traceback", issue=False),
    case("labels-complex", {"train_labels": np.ones((N, 1), dtype=np.complex64)}, "not numbers", risk="silent",
         issue=False),
    case("zero-train-images", {"train_images": np.zeros((0, 28, 28), np.uint8),
                               "train_labels": np.zeros((0, 1), np.uint8)}, "train split(s) hold no images",
         risk="silent"),
    case("zero-test-images", {"test_images": np.zeros((0, 28, 28), np.uint8),
                              "test_labels": np.zeros((0, 1), np.uint8)}, "test split(s) hold no images",
         risk="silent", issue=False),
    case("images-float", {"train_images": np.zeros((N, 28, 28), np.float32)}, "must be uint8", risk="silent",
         issue=False),
    case("images-2d", {"train_images": np.zeros((N, 28), np.uint8)}, "must be uint8", risk="traceback", issue=False),
    case("length-mismatch", {"val_labels": np.zeros((N - 1, 1), np.uint8)}, "images but", risk="silent", issue=False),
    case("missing-array", {"test_labels": None}, "no 'test_labels' array", risk="traceback", issue=False),
]


@pytest.mark.parametrize("change, message", REFUSED)
def test_bad_npz_content_is_refused(tmp_path: Path, change: dict[str, Any], message: str):
    """As a run reads the data: load, then the run's check that every split has images."""
    with pytest.raises(MedbenchError) as info:
        check_not_empty(_card(), load_data(_card(), _write(tmp_path, **change)))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("kind, labels, change, message", [
    case("multilabel-width", "multilabel", ("a", "b", "c"), {"train_labels": np.zeros((N, 2), np.uint8)},
         "2 column(s) but the card names 3", risk="silent", issue=False),
    case("multilabel-value-two", "multilabel", ("a", "b"), {"train_labels": np.full((N, 2), 2, np.uint8)},
         "must be 0 or 1", risk="silent", issue=False),
])
def test_bad_multilabel_labels_are_refused(tmp_path: Path, kind: str, labels: tuple[str, ...],
                                           change: dict[str, Any], message: str):
    arrays = {f"{s}_labels": np.zeros((N, len(labels)), np.uint8) for s in ("train", "val", "test")}
    with pytest.raises(MedbenchError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_data(_card(kind, labels), _write(tmp_path, **{**arrays, **change}))


@pytest.mark.parametrize("labels", [
    case("float-labels-integral", np.array([[0.0], [1.0]] * 3), risk="silent", issue=False),
    case("labels-squeezed", np.array([0, 1] * 3, dtype=np.int64), risk="silent", issue=False),
])
def test_labels_that_mean_class_ids_are_accepted(tmp_path: Path, labels: np.ndarray):
    data = load_data(_card(), _write(tmp_path, train_labels=labels))
    assert data.train.targets.dtype == np.int64 and data.train.targets.tolist() == [0, 1] * 3


@pytest.mark.parametrize("sizes", [case("split-sizes-differ-from-card", (N, N, N - 2), risk="silent")])
def test_split_sizes_other_than_the_card_are_stated(tmp_path: Path, sizes: tuple[int, int, int]):
    data = load_data(_card(), _write(tmp_path, test_images=np.zeros((N - 2, 28, 28), np.uint8),
                               test_labels=np.zeros((N - 2, 1), np.uint8)))
    warning = split_size_warning(_card(), data)
    assert warning is not None and f"{N}/{N}/{N - 2}" in warning and f"{N}/{N}/{N}" in warning
    assert split_size_warning(_card(), load_data(_card(), _write(tmp_path))) is None


def _bomb(inflated: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("train_images.npy", b"\0" * inflated)
    return buffer.getvalue()


@pytest.mark.parametrize("blob, message", [
    case("npz-zip-bomb", _bomb(8 * 2**20), "would decompress to 8,388,608 bytes", risk="dangerous", issue=False),
    case("npz-not-a-zip", b"hello, not a zip", "not a readable .npz", risk="traceback", issue=False),
    case("npz-empty-file", b"", "not a readable .npz", risk="traceback", issue=False),
])
def test_hostile_npz_files_are_refused_before_they_are_inflated(tmp_path: Path, blob: bytes, message: str):
    (tmp_path / "hostile.npz").write_bytes(blob)
    with pytest.raises(MedbenchError) as info:
        load_data(_card(), tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)


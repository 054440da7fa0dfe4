from pathlib import Path

import numpy as np
import pytest

from harness.data import load_data
from harness.errors import MedbenchError
from harness.tasks import get_task


@pytest.mark.parametrize("name, sizes", [
    ("breastmnist", (546, 78, 156)),      # labels saved squeezed, shape (N,)
    ("pneumoniamnist", (2428, 270, 468)),  # labels (N, 1); a balanced subset of the official split
])
def test_real_medmnist_files_load_with_either_label_shape(shared_data: Path, name: str, sizes):
    data = load_data(get_task(name), shared_data / "medmnist")
    assert (len(data.train), len(data.val), len(data.test)) == sizes
    for split in (data.train, data.val, data.test):
        assert split.images.shape[1:] == (28, 28, 1) and split.images.dtype == np.uint8
        assert split.targets.ndim == 1 and set(np.unique(split.targets)) == {0, 1}
    assert len(data.sha256) == 64


def _write_npz(path: Path, **arrays) -> None:
    np.savez(path, **arrays)


def _arrays(n=4):
    rng = np.random.default_rng(0)
    out = {}
    for split in ("train", "val", "test"):
        out[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        out[f"{split}_labels"] = rng.integers(0, 2, (n, 1))
    return out


def test_truncated_npz_is_a_clear_error(shared_data: Path, tmp_path: Path):
    blob = (shared_data / "medmnist" / "breastmnist.npz").read_bytes()
    (tmp_path / "breastmnist.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(MedbenchError, match="truncated or corrupt"):
        load_data(get_task("breastmnist"), tmp_path)


def test_missing_key_is_named(tmp_path: Path):
    arrays = _arrays()
    del arrays["val_labels"]
    _write_npz(tmp_path / "breastmnist.npz", **arrays)
    with pytest.raises(MedbenchError, match="no 'val_labels' array"):
        load_data(get_task("breastmnist"), tmp_path)


def test_length_mismatch_is_named(tmp_path: Path):
    arrays = _arrays()
    arrays["test_labels"] = arrays["test_labels"][:3]
    _write_npz(tmp_path / "breastmnist.npz", **arrays)
    with pytest.raises(MedbenchError, match="test has 4 images but 3 labels"):
        load_data(get_task("breastmnist"), tmp_path)


def test_missing_file_says_where_it_was_expected(tmp_path: Path):
    with pytest.raises(MedbenchError, match=str(tmp_path / "breastmnist.npz")):
        load_data(get_task("breastmnist"), tmp_path)

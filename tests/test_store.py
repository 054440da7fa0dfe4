"""The pixel store: rows read from disk, streamed .npz files, stores that are whole or absent, and the
out-of-core batch path giving the numbers the in-memory path gives."""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import harness.data.store as store_module
from harness.data.arrays import ArrayDataset, TaskData
from harness.data.batches import BatchTransform, batch_order, limit
from harness.data.npz import stream_member
from harness.data.placement import DATA_PATH_ENV, Placement, available_memory, place
from harness.data.prepare import prepare_split
from harness.data.rows import StoredRows
from harness.data.store import build_store, open_store, store_root
from harness.data.stored_split import StoredSplit, prefetched
from harness.distributed import padded_rows
from harness.engine import TrainingRun
from harness.errors import MedbenchError
from harness.models import build_classifier
from harness.objectives import objective_for
from harness.protocols import SMOKE

CPU = torch.device("cpu")
IN_MEMORY, STORED = Placement(True, "test"), Placement(False, "test")


def _npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array, allow_pickle=False)
    return path


def test_stored_rows_read_any_order_across_files_and_stay_lazy(tmp_path: Path):
    a, b = np.arange(5 * 6, dtype=np.uint8).reshape(5, 2, 3), np.arange(100, 100 + 4 * 6, dtype=np.uint8).reshape(4, 2, 3)
    whole = np.concatenate([a, b])
    rows = StoredRows.of(_npy(tmp_path / "a.npy", a), _npy(tmp_path / "b.npy", b))
    picks = np.array([8, 0, 4, 5, 5, 1, 2])  # crosses the file boundary, repeats, runs of consecutive rows
    assert np.array_equal(rows[picks], whole[picks]) and np.array_equal(rows[2:7], whole[2:7])
    narrowed = rows.take(np.array([6, 1, 3]))
    assert isinstance(narrowed, StoredRows) and np.array_equal(np.asarray(narrowed), whole[[6, 1, 3]])
    joined = StoredRows.concat([narrowed, rows.take(np.array([0]))])
    assert np.array_equal(np.asarray(joined), whole[[6, 1, 3, 0]])
    assert np.array_equal(np.concatenate([c for _, c in rows.chunks(2)]), whole)
    assert np.array_equal(np.stack(list(rows)), whole)


def test_a_truncated_file_is_refused_with_one_line(tmp_path: Path):
    path = _npy(tmp_path / "x.npy", np.zeros((10, 8), np.uint8))
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 8)
    with pytest.raises(MedbenchError, match="truncated"):
        StoredRows.of(path)


def _fill(arrays: dict[str, np.ndarray]):
    def fill(builder) -> dict:
        for name, array in arrays.items():
            builder.write(name, array.shape, array.dtype, iter(np.array_split(array, 3)))
        return {"made_by": "test"}
    return fill


def test_a_store_is_whole_or_absent_and_a_broken_one_is_rebuilt(tmp_path: Path):
    images = np.random.default_rng(0).integers(0, 256, (30, 4, 4, 3), dtype=np.uint8)
    folder = store_root() / "t"
    store = build_store(folder, _fill({"images": images}))
    assert np.array_equal(np.asarray(store.rows("images")), images) and store.manifest["made_by"] == "test"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "no temporary folder is left"
    data = folder / "images.npy"
    raw = bytearray(data.read_bytes())
    raw[-1] ^= 0xFF  # same length, one byte changed: only the checksum can tell
    data.write_bytes(bytes(raw))
    with pytest.raises(MedbenchError, match="no longer matches its sha256.*removed.*again") as err:
        open_store(folder)
    assert "\n" not in str(err.value) and not folder.exists()
    assert np.array_equal(np.asarray(build_store(folder, _fill({"images": images})).rows("images")), images)


def test_a_full_disk_while_writing_is_one_line_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def full(self, chunk):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(store_module.ArrayWriter, "append", full)
    folder = store_root() / "full"
    with pytest.raises(MedbenchError, match="disk is full") as err:
        build_store(folder, _fill({"images": np.zeros((4, 2), np.uint8)}))
    assert "\n" not in str(err.value) and not folder.exists() and not list(folder.parent.glob(".full*"))


def test_an_input_that_ends_early_is_never_stored():
    def short(builder) -> dict:
        builder.write("images", (10, 2), np.uint8, iter([np.zeros((4, 2), np.uint8)]))
        return {}
    with pytest.raises(MedbenchError, match="4 rows written, 10 expected"):
        build_store(store_root() / "short", short)
    assert not (store_root() / "short").exists()


def _medmnist_file(path: Path, compression: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    arrays = {f"{split}_images": rng.integers(0, 256, (n, 12, 12), dtype=np.uint8) for split, n in
              (("train", 40), ("val", 9), ("test", 11))}
    arrays.update({f"{split}_labels": rng.integers(0, 3, (len(arrays[f"{split}_images"]), 1)) for split in
                   ("train", "val", "test")})
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
    return arrays


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_medmnist_file_streams_into_the_store_with_the_same_data_and_checksum(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compression: int):
    from harness.data import load_data
    from harness.tasks import SourceSpec, TaskSpec

    arrays = _medmnist_file(tmp_path / "toy.npz", compression)
    assert np.array_equal(np.concatenate(list(stream_member(tmp_path / "toy.npz", "train_images", chunk_bytes=500))),
                          arrays["train_images"])
    spec = TaskSpec(name="toy", kind="multiclass", description="toy", source=SourceSpec("medmnist", {"file": "toy.npz"}),
                    label_names=("a", "b", "c"), channels=1, image_size=12, splits={"train": 40, "val": 9, "test": 11},
                    metrics=("accuracy",), license="test", citation="test")
    in_memory = load_data(spec, tmp_path)
    monkeypatch.setenv(DATA_PATH_ENV, "store")
    stored = load_data(spec, tmp_path)
    assert stored.stored and not in_memory.stored and stored.sha256 == in_memory.sha256
    assert stored.sha256 == TaskData(stored.train, stored.val, stored.test).sha256  # the remembered one is the true one
    for split in ("train", "val", "test"):
        assert np.array_equal(np.asarray(stored.split(split).images), in_memory.split(split).images)
    assert load_data(spec, tmp_path).sha256 == in_memory.sha256  # the second load reads the store, not the file


def test_a_remembered_checksum_is_per_labels_and_rows_of_each_split():
    """Two splittings of one store with the same labels per split but other rows are other data."""
    images = np.random.default_rng(0).integers(0, 256, (12, 4, 4, 1), dtype=np.uint8)
    store = build_store(store_root() / "rows", _fill({"images": images}))
    labels = np.zeros(4, np.int64)

    def split_by(order: list[int]) -> TaskData:
        parts = [ArrayDataset(store.rows("images").take(np.array(order[k:k + 4])), labels) for k in (0, 4, 8)]
        return TaskData(*parts)

    first, second = split_by(list(range(12))), split_by([4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11])
    assert store.with_checksum(first).sha256 == TaskData(first.train, first.val, first.test).sha256
    assert store.with_checksum(second).sha256 == TaskData(second.train, second.val, second.test).sha256
    assert store.with_checksum(first).sha256 != store.with_checksum(second).sha256


def test_placement_follows_the_override_and_the_memory_left(monkeypatch: pytest.MonkeyPatch):
    assert 0 < available_memory()
    assert place(1).in_memory and not place(10 * available_memory()).in_memory
    monkeypatch.setenv(DATA_PATH_ENV, "store")
    assert not place(1).in_memory and "MEDBENCH_DATA_PATH=store" in place(1).why
    monkeypatch.setenv(DATA_PATH_ENV, "sideways")
    with pytest.raises(MedbenchError, match="choose one of auto, memory, store"):
        place(1)


def test_prefetching_passes_errors_on_and_stops_when_left_early():
    assert list(prefetched(lambda i: i * 2, range(5))) == [0, 2, 4, 6, 8]

    def broken(i):
        if i == 2:
            raise ValueError("bad row")
        return i
    with pytest.raises(ValueError, match="bad row"):
        list(prefetched(broken, range(5)))
    batches = prefetched(lambda i: i, range(10_000))
    assert next(batches) == 0
    batches.close()  # the reader thread stops instead of filling a queue nobody reads


def test_the_stored_path_trains_and_scores_like_the_in_memory_path(tmp_path: Path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (70, 20, 20, 1), dtype=np.uint8)
    folder = store_root() / "toy"
    store = build_store(folder, _fill({"images": images}))
    ds = limit(ArrayDataset(store.rows("images"), np.arange(70) % 2), 60)  # a cap picks rows before reading
    assert isinstance(ds.images, StoredRows)
    outcomes = {}
    for name, placement in (("memory", IN_MEMORY), ("store", STORED)):
        split = prepare_split(ds, 16, "binary", CPU, placement)
        assert isinstance(split, StoredSplit) == (name == "store") and split.image_shape == (1, 16, 16)
        torch.manual_seed(0)
        protocol = SMOKE.with_overrides(epochs=2, batch_size=16, augmentation="flip")
        run = TrainingRun(build_classifier("resnet18", 2, 1, 16), objective_for("binary", 2, protocol), protocol, 0,
                          BatchTransform((0.5,), (0.25,), "flip", CPU), CPU)
        outcomes[name] = (run.fit(split, split, split, progress=False, time_inference=False), split.pixels_sha256())
    (memory, memory_pixels), (stored, stored_pixels) = outcomes["memory"], outcomes["store"]
    assert memory_pixels == stored_pixels  # the same resized bytes, hashed the same way
    assert memory.metrics["accuracy"] == pytest.approx(stored.metrics["accuracy"], abs=1e-6)
    assert [h["train_loss"] for h in memory.history] == pytest.approx([h["train_loss"] for h in stored.history], rel=1e-4)


def test_a_torchrun_rank_reads_only_its_rows_and_augments_them_as_one_process_would(monkeypatch: pytest.MonkeyPatch):
    """Rank 1 of 2 (simulated): the store reads only rows 1::2 of each seeded batch, and the augmentation
    of those rows is the one a single process draws for the whole batch; evaluation reads its rows' pixels."""
    import harness.distributed as distributed

    transform = BatchTransform((0.5,), (0.25,), "flip_crop", CPU)
    batch = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (8, 1, 16, 16), dtype=np.uint8))
    whole, _ = transform(batch, torch.Generator().manual_seed(3))
    mine, _ = transform(batch[1::2], torch.Generator().manual_seed(3), of_batch=8, rows=slice(1, None, 2))
    torch.testing.assert_close(mine, whole[1::2], atol=1e-5, rtol=1e-5)

    images = np.random.default_rng(0).integers(0, 255, (48, 16, 16, 1), dtype=np.uint8)
    split = prepare_split(ArrayDataset(images, np.arange(48) % 2), 16, "binary", CPU, STORED)
    read = []
    gather = split.gather
    monkeypatch.setattr(split, "gather", lambda index: read.append(index.clone()) or gather(index))
    monkeypatch.setattr(distributed, "train_rows", lambda: slice(1, None, 2))
    protocol = SMOKE.with_overrides(epochs=1, batch_size=16, augmentation="flip_crop")
    run = TrainingRun(build_classifier("resnet18", 2, 1, 16), objective_for("binary", 2, protocol), protocol, 0,
                      BatchTransform((0.5,), (0.25,), "flip_crop", CPU), CPU)
    run.fit(split, split, split, progress=False, time_inference=False)
    orders = batch_order(48, 16, torch.Generator().manual_seed(0), drop_last=True)
    assert [r.tolist() for r in read] == [o[1::2].tolist() for o in orders]  # 8 of each 16, this rank's

    # evaluation: the rank reads its (padded) rows' pixels and every target of each batch
    pixels_read, read_rows, pixels = [], StoredRows.read, split.images

    def recording(self: StoredRows, rows: np.ndarray) -> np.ndarray:
        if self is pixels:
            pixels_read.append(rows.tolist())
        return read_rows(self, rows)

    monkeypatch.setattr(StoredRows, "read", recording)
    held = prepare_split(ArrayDataset(images, np.arange(48) % 2), 16, "binary", CPU, IN_MEMORY)
    mine = lambda n: padded_rows(n, 1, 2)  # noqa: E731 - rank 1 of 2
    for stored_batch, held_batch in zip(split.eval_batches(20, mine), held.eval_batches(20, mine), strict=True):
        assert torch.equal(stored_batch.images, held_batch.images) and torch.equal(stored_batch.targets, held_batch.targets)
    assert pixels_read == [list(range(1, 20, 2)), list(range(21, 40, 2)), [41, 43, 45, 47]]
    assert [len(b.targets) for b in held.eval_batches(20, mine)] == [20, 20, 8]


def test_the_matcher_finds_the_same_copies_with_its_index_on_disk():
    from harness.copies import Catalogue, DEFAULT_RULE, Reference, pairs_between

    rng = np.random.default_rng(3)
    pictures = rng.integers(0, 256, (800, 48, 48), dtype=np.uint8)  # 800 × 29 crop views: past brute force
    queries = Catalogue.of([pictures[17][::-1], pictures[500][4:44, 4:44], rng.integers(0, 256, (48, 48), np.uint8)])
    in_memory, on_disk = Reference(Catalogue.of(pictures)), Reference(Catalogue.of(pictures), spill_bytes=0)
    assert isinstance(on_disk.views.index.vectors, StoredRows) and not isinstance(in_memory.views.index.vectors, StoredRows)
    found = [[(p.query, p.reference) for p in pairs_between(queries, ref, DEFAULT_RULE)] for ref in (in_memory, on_disk)]
    assert found[0] == found[1] == [(0, 17), (1, 500)]

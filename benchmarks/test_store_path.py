"""The out-of-core data path against the model and against the in-memory path (issue 18).

* `data_batch_store`: one training batch gathered from the on-disk pixel store (pread of its rows, NCHW
  layout) and augmented as `data_batch` is: `data_headroom_store` = training step ÷ this.
* `store_steps` / `memory_steps`: the same seeded training steps fed by `StoredSplit.batches` (background
  prefetcher) and by the in-memory `TensorSplit`, timed in alternation: `store_step_ratio` = store ÷ memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.conftest import BenchSetting, median_seconds, synchronize
from benchmarks.test_train_step import MEAN, ROUNDS, STD, WARMUP, _harness_run, _paired
from harness.data.batches import BatchTransform, TensorSplit, batch_order
from harness.data.store import build_store
from harness.data.stored_split import StoredSplit

STEPS = 4  # training steps per timed round


@pytest.fixture(scope="module")
def stored(setting: BenchSetting, store: TensorSplit, tmp_path_factory: pytest.TempPathFactory) -> StoredSplit:
    """The bench's in-memory split written to a pixel store (N, S, S, C) and opened as the runner opens it."""
    pixels = store.images.permute(0, 2, 3, 1).cpu().numpy()

    def fill(builder) -> dict:
        builder.write("images", pixels.shape, np.uint8, iter(np.array_split(pixels, 4)))
        return {}

    entry = build_store(Path(tmp_path_factory.mktemp("bench-store")) / "split", fill)
    return StoredSplit(entry.rows("images"), store.targets, setting.device)


def test_data_batch_from_store(benchmark, setting, stored, medians):
    transform = BatchTransform((MEAN,) * setting.channels, (STD,) * setting.channels, "flip_crop", setting.device)
    generator = torch.Generator().manual_seed(0)
    order = batch_order(len(stored), setting.batch_size, generator, drop_last=True)

    def batch() -> None:
        transform(stored.gather(order[0]).images, generator)
        synchronize(setting.device)

    benchmark.pedantic(batch, rounds=ROUNDS * 4, warmup_rounds=WARMUP)
    medians["data_batch_store"] = median_seconds(benchmark)


def _steps(setting: BenchSetting, split: TensorSplit | StoredSplit):
    run = _harness_run(setting)
    optimizer, scheduler = run.make_optimizer(steps_per_epoch=10_000)
    run.model.train()
    orders = batch_order(len(split), setting.batch_size, torch.Generator().manual_seed(0), drop_last=True)[:STEPS]

    def steps() -> None:
        for images, targets, _ in split.batches(orders):
            run.train_step(images, targets, optimizer, scheduler)
        synchronize(setting.device)

    return steps


def test_store_steps_against_memory(benchmark, setting, store, stored, medians):
    medians.update(_paired(benchmark, _steps(setting, stored), {"memory_steps": _steps(setting, store)}, ROUNDS, WARMUP))
    medians["store_steps"] = median_seconds(benchmark)

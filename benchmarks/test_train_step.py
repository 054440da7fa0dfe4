"""The harness's training and evaluation against bare PyTorch, the data path against the model, and
training FLOP/s against this machine's matmul FLOP/s.

* `harness_train_step`: `TrainingRun.train_step` on a uint8 batch from the in-memory store (index,
  convert, normalise, forward, loss, backward, optimizer and lr-schedule step), augmentation off so
  the figure is the framework's cost; augmentation is timed separately in `data_batch`.
* `bare_train_step`: the loop of timm's train.py (`train_one_epoch`) on a ready, normalised float
  batch already on the device: autocast (bf16 on CUDA), forward, loss, zero_grad, backward, step;
  channels_last on CUDA as timm's `--channels-last`. Same model, batch, optimizer factory.
* `harness_eval` / `bare_eval`: `TrainingRun.evaluate` (metrics included) against a bare no-grad
  forward pass over the same images.
* `data_batch`: one training batch from the store with the `quick` protocol's flip + random
  resized crop, done on whole batches with tensor ops.
* `matmul`: a large square matmul, this device's practical FLOP/s ceiling (fp32 on CPU, bf16 on CUDA).

The bare counterparts run right before each timed harness round (pytest-benchmark's untimed setup),
so a shared machine's drifting speed cannot make one side look faster than it is.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Callable

import pytest
import timm.optim
import torch

from benchmarks.conftest import BenchSetting, median_seconds, synchronize
from harness.data.batches import BatchTransform, TensorSplit, batch_order
from harness.efficiency import flops_per_image
from harness.engine import SpeedOptions, TrainingRun
from harness.models import build_classifier
from harness.objectives import objective_for
from harness.protocols import PROTOCOLS

ROUNDS, WARMUP = 12, 3
MEAN, STD = 0.5, 0.25


def _model(setting: BenchSetting) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_classifier(setting.backbone, setting.classes, setting.channels, setting.image_size)


def _protocol(setting: BenchSetting):
    return dataclasses.replace(PROTOCOLS.get("paper" if setting.device.type == "cuda" else "quick"),
                               batch_size=setting.batch_size, augmentation="none")


def _harness_run(setting: BenchSetting, speed: SpeedOptions = SpeedOptions()) -> TrainingRun:
    protocol = _protocol(setting)
    transform = BatchTransform((MEAN,) * setting.channels, (STD,) * setting.channels, "none", setting.device)
    return TrainingRun(_model(setting), objective_for("multiclass", setting.classes, protocol), protocol, 0,
                       transform, setting.device, speed)


def _harness_step(setting: BenchSetting, store: TensorSplit, speed: SpeedOptions) -> Callable[[], None]:
    run = _harness_run(setting, speed)
    optimizer, scheduler = run.make_optimizer(steps_per_epoch=10_000)
    run.model.train()
    index = torch.arange(setting.batch_size, device=setting.device)

    def step() -> None:
        run.train_step(store.images[index], store.targets[index], optimizer, scheduler)
        synchronize(setting.device)

    return step


def _bare_step(setting: BenchSetting, store: TensorSplit) -> Callable[[], None]:
    model = _model(setting).to(setting.device).train()
    memory_format = torch.channels_last if setting.device.type == "cuda" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x = ((store.images[:setting.batch_size].float() / 255 - MEAN) / STD).contiguous(memory_format=memory_format)
    y = store.targets[:setting.batch_size]
    protocol = _protocol(setting)
    optimizer = timm.optim.create_optimizer_v2(model, opt=protocol.optimizer, lr=protocol.lr,
                                               weight_decay=protocol.weight_decay)
    autocast = torch.autocast(setting.device.type, dtype=torch.bfloat16, enabled=setting.device.type == "cuda")

    def step() -> None:
        with autocast:
            loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        synchronize(setting.device)

    return step


def _paired(benchmark, harness: Callable[[], None], bare: Callable[[], None], rounds: int, warmup: int) -> float:
    """Times `harness` with pytest-benchmark and `bare` just before each of its rounds (in the untimed setup),
    so the drift of a shared machine's speed hits both alike; returns the bare median in seconds."""
    bare_seconds: list[float] = []

    def timed_bare() -> None:
        tic = time.perf_counter()
        bare()
        bare_seconds.append(time.perf_counter() - tic)

    benchmark.pedantic(harness, setup=timed_bare, rounds=rounds, warmup_rounds=warmup)
    return statistics.median(bare_seconds[warmup:])  # setup also runs before each warm-up round


def test_train_step_against_bare_pytorch(benchmark, setting, store, medians, flops):
    medians["bare_train_step"] = _paired(benchmark, _harness_step(setting, store, SpeedOptions()),
                                         _bare_step(setting, store), ROUNDS, WARMUP)
    medians["harness_train_step"] = median_seconds(benchmark)
    forward = flops_per_image(_model(setting), (setting.channels, setting.image_size, setting.image_size))
    flops["train_step_flops"] = 3 * forward * setting.batch_size  # backward ≈ 2× forward


@pytest.mark.parametrize("variant", ["channels_last", "compile"])
def test_harness_train_step_variant(benchmark, setting, store, medians, variant):
    """The speed options measured against the default, so the default can be the one that pays."""
    if variant == "channels_last":
        speed = SpeedOptions(channels_last=setting.device.type != "cuda")  # the opposite of the default layout
    else:
        speed = SpeedOptions(compile=True)
    benchmark.pedantic(_harness_step(setting, store, speed), rounds=ROUNDS, warmup_rounds=WARMUP)
    medians[f"harness_train_step_{variant if variant == 'compile' else 'other_layout'}"] = median_seconds(benchmark)


def test_eval_against_bare_pytorch(benchmark, setting, store, medians):
    run = _harness_run(setting)
    split = TensorSplit(store.images[:setting.eval_images], store.targets[:setting.eval_images])
    model = _model(setting).to(setting.device).eval()
    memory_format = torch.channels_last if setting.device.type == "cuda" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    batch = _protocol(setting).eval_batch_size
    batches = [((store.images[i:i + batch].float() / 255 - MEAN) / STD).contiguous(memory_format=memory_format)
               for i in range(0, setting.eval_images, batch)]
    autocast = torch.autocast(setting.device.type, dtype=torch.bfloat16, enabled=setting.device.type == "cuda")

    def harness() -> None:
        run.evaluate(split)
        synchronize(setting.device)

    @torch.no_grad()
    def bare() -> None:
        with autocast:
            for x in batches:
                model(x).argmax(1)
        synchronize(setting.device)

    medians["bare_eval"] = _paired(benchmark, harness, bare, ROUNDS, warmup=1)
    medians["harness_eval"] = median_seconds(benchmark)


def test_data_batch(benchmark, setting, store, medians):
    transform = BatchTransform((MEAN,) * setting.channels, (STD,) * setting.channels, "flip_crop", setting.device)
    generator = torch.Generator().manual_seed(0)
    order = batch_order(len(store), setting.batch_size, generator, drop_last=True)

    def batch() -> None:
        index = order[0].to(setting.device)
        transform(store.images[index], generator)
        synchronize(setting.device)

    benchmark.pedantic(batch, rounds=ROUNDS * 4, warmup_rounds=WARMUP)
    medians["data_batch"] = median_seconds(benchmark)


def test_matmul_ceiling(benchmark, setting, flops):
    n = 8192 if setting.device.type == "cuda" else 1024
    dtype = torch.bfloat16 if setting.device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=setting.device, dtype=dtype)
    b = torch.randn(n, n, device=setting.device, dtype=dtype)

    def matmul() -> None:
        torch.mm(a, b)
        synchronize(setting.device)

    benchmark.pedantic(matmul, rounds=ROUNDS, warmup_rounds=WARMUP)
    flops["matmul_flops_per_s"] = 2 * n**3 / median_seconds(benchmark)

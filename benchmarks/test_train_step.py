"""The harness's training and evaluation against bare PyTorch, the data path against the model, and
training FLOP/s against this machine's matmul FLOP/s.

* `harness_train_step`: `TrainingRun.train_step` on a uint8 batch from the in-memory store (index,
  convert, normalise, forward, loss, backward, optimizer and lr-schedule step), augmentation off so
  the figure is the framework's cost; augmentation is timed separately in `data_batch`.
* `bare_train_step`: the loop of timm's train.py (`train_one_epoch`) on a ready, normalised float
  batch already on the device: autocast (bf16 on CUDA), forward, loss, zero_grad, backward, step;
  channels_last on CUDA as timm's `--channels-last`. Same model, batch, optimizer factory.
* `harness_eval` / `bare_eval` / `bare_eval_converting`: `TrainingRun.evaluate` (metrics included)
  against a bare no-grad forward pass over the same images, in the same (channels_last) input layout,
  on batches normalised before the clock starts / converted from uint8 inside the timed region.
* `data_batch`: one training batch from the store with the `quick` protocol's flip + random
  resized crop, done on whole batches with tensor ops.
* `matmul`: this device's FLOP/s ceiling, the larger of the best matmul measured over sizes and thread counts
  and (CPU) the instruction set's theoretical FMA rate; see benchmarks/peak_flops.py.

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
from benchmarks.peak_flops import Peak, best_matmul, measured_cpu_peak, theoretical_cpu_peak
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


def _paired(benchmark, harness: Callable[[], None], bares: dict[str, Callable[[], None]], rounds: int,
            warmup: int) -> dict[str, float]:
    """Times `harness` with pytest-benchmark and each of `bares` just before each of its rounds (in the untimed
    setup, in turns), so the drift of a shared machine's speed hits all alike; returns each bare median in seconds."""
    bare_seconds: dict[str, list[float]] = {name: [] for name in bares}

    def timed_bares() -> None:
        names = list(bares) if len(bare_seconds[next(iter(bares))]) % 2 == 0 else list(bares)[::-1]
        for name in names:
            tic = time.perf_counter()
            bares[name]()
            bare_seconds[name].append(time.perf_counter() - tic)

    benchmark.pedantic(harness, setup=timed_bares, rounds=rounds, warmup_rounds=warmup)
    # the setup also runs before each warm-up round
    return {name: statistics.median(seconds[warmup:]) for name, seconds in bare_seconds.items()}


def test_train_step_against_bare_pytorch(benchmark, setting, store, medians, flops):
    medians.update(_paired(benchmark, _harness_step(setting, store, SpeedOptions()),
                           {"bare_train_step": _bare_step(setting, store)}, ROUNDS, WARMUP))
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
    """Both sides feed the model channels_last input, as `evaluate` does on every device (on CUDA through the
    default speed options, on a CPU inside `evaluate`). Two bare loops: one on batches converted and normalised
    before the clock starts, one converting each uint8 batch inside the timed region as the harness must."""
    run = _harness_run(setting)
    split = TensorSplit(store.images[:setting.eval_images], store.targets[:setting.eval_images])
    model = _model(setting).to(setting.device).eval()
    if setting.device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    batch = _protocol(setting).eval_batch_size
    uint8 = [store.images[i:i + batch] for i in range(0, setting.eval_images, batch)]

    def normalised(images: torch.Tensor) -> torch.Tensor:
        return images.to(torch.float32, memory_format=torch.channels_last).div_(255).sub_(MEAN).div_(STD)

    ready = [normalised(images) for images in uint8]
    autocast = torch.autocast(setting.device.type, dtype=torch.bfloat16, enabled=setting.device.type == "cuda")

    def harness() -> None:
        run.evaluate(split)
        synchronize(setting.device)

    @torch.no_grad()
    def bare(convert: bool) -> None:
        with autocast:
            for images, x in zip(uint8, ready):
                model(normalised(images) if convert else x).argmax(1)
        synchronize(setting.device)

    medians.update(_paired(benchmark, harness, {"bare_eval": lambda: bare(convert=False),
                                                "bare_eval_converting": lambda: bare(convert=True)}, ROUNDS, warmup=1))
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


def test_matmul_ceiling(benchmark, setting, flops, peak):
    """The denominator of flop_fraction (benchmarks/peak_flops.py): on a CPU the best fp32 matmul over sizes and
    thread counts against the instruction set's FMA rate; on CUDA a bf16 8192³ matmul. The table shows the best
    configuration's median; the peak is the best single call."""
    full = torch.get_num_threads()
    if setting.device.type == "cuda":
        n, dtype, threads = 8192, torch.bfloat16, full
        found = Peak(best_matmul(n, dtype, setting.device), f"bf16 {n}³", None, "not computed on CUDA")
    else:
        measured, n, threads = measured_cpu_peak()
        dtype = torch.float32
        found = Peak(measured, f"fp32 {n}³, {threads} of {full} threads", *theoretical_cpu_peak())
    a = torch.randn(n, n, device=setting.device, dtype=dtype)
    b = torch.randn(n, n, device=setting.device, dtype=dtype)

    def matmul() -> None:
        torch.mm(a, b)
        synchronize(setting.device)

    torch.set_num_threads(threads)
    try:
        rounds = max(2, min(ROUNDS, int(found.measured / (2 * n**3) / 2)))  # about half a second's worth
        benchmark.pedantic(matmul, rounds=rounds, warmup_rounds=0)  # the search just ran this size
    finally:
        torch.set_num_threads(full)
    best_round = 2 * n**3 / benchmark.stats.stats.min
    peak["ceiling"] = dataclasses.replace(found, measured=max(found.measured, best_round))
    flops["matmul_flops_per_s"] = peak["ceiling"].denominator

"""Shared set-up of the speed benchmarks and the summary lines `make bench` ends with.

Every figure behind a ratio is a pytest-benchmark median taken in the same session, on the same
device, model and batch, so a ratio never mixes two machines or two loads. The device is CUDA when
there is one (resnet50 at 224 px, bf16, batch 64: the `paper` protocol's setting) and the CPU
otherwise (resnet18 at 64 px, batch 32: the `quick` protocol's scale); MEDBENCH_BENCH_DEVICE=cpu
forces the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from benchmarks.peak_flops import Peak
from harness.data.arrays import ArrayDataset
from harness.data.batches import TensorSplit
from harness.data.prepare import prepare_split

MEDIANS = pytest.StashKey[dict[str, float]]()
FLOPS = pytest.StashKey[dict[str, float]]()
PEAK = pytest.StashKey[dict[str, Peak]]()


@dataclass(frozen=True)
class BenchSetting:
    device: torch.device
    backbone: str
    image_size: int
    batch_size: int
    channels: int
    classes: int = 4
    eval_images: int = 256


def _setting() -> BenchSetting:
    wanted = os.environ.get("MEDBENCH_BENCH_DEVICE", "auto")
    if wanted != "cpu" and torch.cuda.is_available():
        return BenchSetting(torch.device("cuda"), "resnet50", 224, 64, 3, eval_images=1024)
    return BenchSetting(torch.device("cpu"), "resnet18", 64, 32, 1)


SETTING = _setting()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[MEDIANS] = {}
    config.stash[FLOPS] = {}
    config.stash[PEAK] = {}


@pytest.fixture(scope="session")
def setting() -> BenchSetting:
    return SETTING


@pytest.fixture(scope="session")
def medians(request: pytest.FixtureRequest) -> dict[str, float]:
    """name → median seconds of one call; the summary lines are ratios of these."""
    return request.config.stash[MEDIANS]


@pytest.fixture(scope="session")
def flops(request: pytest.FixtureRequest) -> dict[str, float]:
    return request.config.stash[FLOPS]


@pytest.fixture(scope="session")
def peak(request: pytest.FixtureRequest) -> dict[str, Peak]:
    """"ceiling" → the measured and theoretical FLOP/s behind flop_fraction's denominator."""
    return request.config.stash[PEAK]


@pytest.fixture(scope="session")
def store(setting: BenchSetting) -> TensorSplit:
    """An in-memory uint8 split on the device, as the runner prepares it (random pixels, balanced labels)."""
    rng = np.random.default_rng(0)
    n = max(setting.eval_images, 4 * setting.batch_size)
    images = rng.integers(0, 256, (n, setting.image_size, setting.image_size, setting.channels), dtype=np.uint8)
    return prepare_split(ArrayDataset(images, np.arange(n) % setting.classes), setting.image_size, "multiclass",
                         setting.device)


def median_seconds(benchmark) -> float:
    return float(benchmark.stats.stats.median)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _ratio(medians: dict[str, float], numerator: str, denominator: str) -> float | None:
    if numerator in medians and denominator in medians and medians[denominator] > 0:
        return medians[numerator] / medians[denominator]
    return None


def summary_lines(medians: dict[str, float], flops: dict[str, float]) -> list[str]:
    """The figures of issue #8 (eval_ratio_converting and the store's two: issue #18), each None (and said so) when its benchmarks
    did not run."""
    figures = {
        "train_step_ratio": _ratio(medians, "bare_train_step", "harness_train_step"),
        "eval_ratio": _ratio(medians, "bare_eval", "harness_eval"),
        "eval_ratio_converting": _ratio(medians, "bare_eval_converting", "harness_eval"),
        "data_headroom": _ratio(medians, "harness_train_step", "data_batch"),
        "data_headroom_store": _ratio(medians, "harness_train_step", "data_batch_store"),
        "store_step_ratio": _ratio(medians, "store_steps", "memory_steps"),
        "flop_fraction": (flops["train_step_flops"] / medians["harness_train_step"] / flops["matmul_flops_per_s"]
                          if {"train_step_flops", "matmul_flops_per_s"} <= flops.keys() and "harness_train_step" in medians
                          else None),
    }
    return [f"{name}: {value:.3f}" if value is not None else f"{name}: not measured (its benchmarks were deselected)"
            for name, value in figures.items()]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    medians, flops = config.stash[MEDIANS], config.stash[FLOPS]
    if not medians:
        return
    terminalreporter.section("medbench speed summary")
    terminalreporter.write_line(f"device: {SETTING.device} ({torch.cuda.get_device_name() if SETTING.device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
                                f"{SETTING.backbone} @ {SETTING.image_size} px, batch {SETTING.batch_size}")
    for name in sorted(medians):
        terminalreporter.write_line(f"  {name}: {medians[name] * 1e3:.2f} ms")
    for line in summary_lines(medians, flops):
        terminalreporter.write_line(line)
    if "ceiling" in config.stash[PEAK]:
        for line in config.stash[PEAK]["ceiling"].lines():
            terminalreporter.write_line(f"  {line}")

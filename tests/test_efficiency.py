"""harness.efficiency on tiny CPU models: counts are exact, timings positive, modes restored."""

from __future__ import annotations

import math
import platform
from pathlib import Path

import pytest
import timm
import torch
from torch import nn

from harness.efficiency import PeakMemory, count_params, flops_per_image, hardware_info, measure_inference

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def resnet18() -> nn.Module:
    return timm.create_model("resnet18", num_classes=2)


def test_count_params_is_sum_of_numel(resnet18: nn.Module) -> None:
    assert count_params(resnet18) == sum(p.numel() for p in resnet18.parameters())
    assert count_params(nn.Linear(10, 5)) == 55


def test_linear_flops_count_multiply_add_as_two() -> None:
    # FlopCounterMode counts 2 * M * N * K for a matmul and ignores the bias add
    assert flops_per_image(nn.Linear(10, 5), (1, 1, 10)) == 2 * 10 * 5


def test_conv_flops_scale_with_pixels() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))
    small = flops_per_image(model, (3, 16, 16))
    large = flops_per_image(model, (3, 32, 32))
    assert small is not None and large == pytest.approx(4 * small)
    assert small == 2 * 16 * 16 * 9 * (3 * 8 + 8 * 4)


def test_flops_failure_is_none_with_warning() -> None:
    class Broken(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("unsupported op")

    with pytest.warns(UserWarning, match="FLOP counting failed"):
        assert flops_per_image(Broken(), (3, 8, 8)) is None


def test_measure_inference_positive_and_restores_modes(resnet18: nn.Module) -> None:
    resnet18.train()
    resnet18.bn1.eval()  # a frozen norm layer inside a training model must stay frozen
    result = measure_inference(resnet18, (3, 32, 32), CPU, batch_size=4, warmup=1, repeats=3)
    for key in ("infer_images_per_s", "infer_latency_ms"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert math.isfinite(result["infer_images_per_s_spread"]) and result["infer_images_per_s_spread"] >= 0
    assert result["infer_images_per_s_spread_kind"] == "relative_iqr"
    assert result["infer_batch_size"] == 4
    assert resnet18.training and not resnet18.bn1.training and resnet18.layer1.training


def test_measure_inference_halves_batch_on_cuda_oom() -> None:
    class FitsTwo(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > 2:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return x.mean()

    result = measure_inference(FitsTwo(), (1, 4, 4), CPU, batch_size=8, warmup=0, repeats=1)
    assert result["infer_batch_size"] == 2


def test_measure_inference_leaves_global_rng_alone() -> None:
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    measure_inference(nn.Flatten(), (1, 2, 2), CPU, batch_size=2, warmup=0, repeats=1)
    assert torch.equal(torch.rand(1), expected)


def test_peak_memory_on_cpu() -> None:
    with PeakMemory(CPU) as peak:
        block = torch.ones(256, 256)
    del block
    assert peak.kind == "process_peak_rss"
    assert peak.peak_bytes is not None and peak.peak_bytes > 0
    assert peak.to_dict() == {"peak_memory_bytes": peak.peak_bytes, "peak_memory_kind": "process_peak_rss"}


def test_hardware_info_on_cpu() -> None:
    info = hardware_info(CPU)
    assert info["device_type"] == "cpu"
    assert info["device_name"] and info["cpu_count"] >= 1
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["cuda_version"] is None
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert isinstance(info["cpu_simd_flags"], list)
    if Path("/proc/cpuinfo").is_file() and platform.machine() == "x86_64":
        assert "sse2" in info["cpu_simd_flags"]  # part of the x86-64 baseline


def test_learning_speed_is_the_first_epoch_at_95_percent_of_the_final_validation_value():
    from harness.efficiency import learning_speed

    history = [{"epoch": e, "val_auroc": v, "train_images": 100 * (e + 1), "train_seconds": 2.0 * (e + 1)}
               for e, v in enumerate([0.5, 0.80, 0.86, 0.84, 0.90])]
    speed = learning_speed(history, "auroc", forward_flops=1000)
    assert speed["epoch_to_95"] == 3 and speed["train_images_to_95"] == 300  # 0.86 ≥ 0.95 × 0.90 = 0.855 > 0.80
    assert speed["train_flops_to_95"] == 3 * 1000 * 300 and speed["train_seconds_to_95"] == 6.0
    assert speed["train_flops"] == 3 * 1000 * 500 and speed["to_95"]["threshold"] == pytest.approx(0.855)
    assert learning_speed([{"epoch": 0, "train_loss": None}], "auroc", 1000) == {}  # diverged: nothing to say

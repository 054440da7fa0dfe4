"""Efficiency measurements: parameters, FLOPs, inference speed, peak memory and the hardware behind them.

The timing method follows timm's benchmark.py: warm up, synchronise around every timed region on
CUDA, report the median over repeats together with its spread, and halve the batch size on CUDA
out-of-memory. Library code here leaves global settings as it found them (threads, RNG, model
placement); only while timing inference does it let cuDNN autotune, so a record's speed is the
model's, not that of the deterministic kernels its training asked for.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from harness.errors import MedbenchError

SPREAD_KIND = "relative_iqr"
"""infer_images_per_s_spread = (75th - 25th percentile) / median of per-repeat throughputs."""


def count_params(model: nn.Module) -> int:
    """All parameters, trainable or frozen (shared tensors once): the model size papers report."""
    return sum(p.numel() for p in model.parameters())


def flops_per_image(model: nn.Module, input_shape: tuple[int, int, int]) -> int | None:
    """Forward FLOPs for one (C, H, W) image, eval mode, no grad; None if counting fails.

    Counted by torch.utils.flop_counter.FlopCounterMode, which counts a multiply-add as 2 FLOPs
    (a Linear(10, 5) on one vector is 100) and only matmul/conv/attention-like ops: bias adds,
    norms and activations are not counted.
    """
    image = torch.zeros(1, *input_shape, device=_model_device(model))
    try:
        with _eval_mode(model), torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(image)
    except Exception as exc:  # an op the counter cannot handle must not sink a whole run
        warnings.warn(f"FLOP counting failed ({type(exc).__name__}: {exc}); recording None", stacklevel=2)
        return None
    return int(counter.get_total_flops())


def measure_inference(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    device: torch.device,
    batch_size: int = 32,
    warmup: int = 3,
    repeats: int = 10,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, Any]:
    """Inference throughput (batched) and latency (batch 1) of `model` as given, float32 inputs.

    The model must already be on `device` (and in channels_last if wanted). Train/eval mode of every
    submodule is restored afterwards. On CUDA OOM the batch is halved; infer_batch_size is the size
    that was timed.
    """
    if batch_size < 1 or repeats < 1 or warmup < 0:
        raise MedbenchError(f"need batch_size >= 1, repeats >= 1, warmup >= 0; got {batch_size}, {repeats}, {warmup}")
    device = torch.device(device)
    with _eval_mode(model), _autotuned_cudnn(), torch.inference_mode(), _autocast(device, autocast_dtype):
        batch_size, batch_seconds = _time_batches_with_backoff(model, input_shape, device, batch_size, warmup, repeats)
        single_seconds = _time_forward(model, _random_input(1, input_shape, device), device, warmup, repeats)
    throughputs = [batch_size / s for s in batch_seconds]
    median = statistics.median(throughputs)
    q25, q75 = np.percentile(throughputs, [25, 75])
    return {
        "infer_images_per_s": median,
        "infer_images_per_s_spread": float(q75 - q25) / median,
        "infer_images_per_s_spread_kind": SPREAD_KIND,
        "infer_latency_ms": statistics.median(single_seconds) * 1000.0,
        "infer_batch_size": batch_size,
        "infer_warmup": warmup,
        "infer_repeats": repeats,
        "infer_precision": "float32" if autocast_dtype is None else f"autocast_{_dtype_name(autocast_dtype)}",
    }


def _time_batches_with_backoff(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    device: torch.device,
    batch_size: int,
    warmup: int,
    repeats: int,
) -> tuple[int, list[float]]:
    """Time batched forwards, halving the batch on CUDA OOM; returns the batch size that fitted."""
    while True:
        try:
            # no local name for the batch: after an OOM it must be garbage before empty_cache()
            seconds = _time_forward(model, _random_input(batch_size, input_shape, device), device, warmup, repeats)
            return batch_size, seconds
        except torch.cuda.OutOfMemoryError as exc:
            if batch_size == 1:
                raise MedbenchError(f"out of GPU memory even at batch size 1 on {device}") from exc
        # outside the except block the failed attempt's tensors are released, so the cache can be freed
        torch.cuda.empty_cache()
        batch_size //= 2


def _time_forward(
    model: nn.Module, batch: torch.Tensor, device: torch.device, warmup: int, repeats: int
) -> list[float]:
    """Seconds per forward pass, each timed between device synchronisations, after `warmup` passes."""
    for _ in range(warmup):
        model(batch)
    _synchronize(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(batch)
        _synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def _random_input(batch_size: int, input_shape: tuple[int, int, int], device: torch.device) -> torch.Tensor:
    """Random float32 images from a private generator, so timing never moves the global RNG."""
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.randn(batch_size, *input_shape, generator=generator, device=device)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@contextlib.contextmanager
def _autotuned_cudnn() -> Iterator[None]:
    """cuDNN's fastest kernels for the block (timings are not results), then the caller's settings back."""
    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[0], saved[1]
        torch.use_deterministic_algorithms(saved[2], warn_only=warn_only)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the block, then each submodule's own mode back (a frozen BN stays frozen)."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


class PeakMemory:
    """Peak memory over a `with` block, and which kind of peak it is.

    CUDA: torch.cuda.max_memory_allocated after resetting the peak at entry ("cuda_max_allocated":
    tensor memory, not the caching allocator's reserve). CPU: the process's peak resident set size
    ("process_peak_rss"); it cannot be reset, so it covers the whole process up to the block's end
    and is an upper bound for the block.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.peak_bytes: int | None = None
        self.kind: str | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
            self.kind = "cuda_max_allocated"
        else:
            self.peak_bytes = _process_peak_rss_bytes()
            self.kind = "process_peak_rss"

    def to_dict(self) -> dict[str, Any]:
        return {"peak_memory_bytes": self.peak_bytes, "peak_memory_kind": self.kind}


def _process_peak_rss_bytes() -> int:
    """ru_maxrss is KiB on Linux and bytes on macOS."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def hardware_info(device: torch.device) -> dict[str, Any]:
    """What a speed or memory number was measured on, for the record next to it."""
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    return {
        "device_type": device.type,
        "device_name": torch.cuda.get_device_name(device) if on_cuda else _cpu_model(),
        "device_memory_bytes": torch.cuda.get_device_properties(device).total_memory if on_cuda else None,
        "cpu_model": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_simd_flags": _cpu_simd_flags(),
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": _usable_cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "cuda_version": torch.version.cuda if on_cuda else None,
        "cudnn_version": torch.backends.cudnn.version() if on_cuda else None,
    }


def _cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux x86), else what platform knows."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# The instruction-set extensions that decide which float kernels run; results differ in the last digits
# between CPUs with different ones, so a record names them.
_SIMD_FLAG_PREFIXES = ("sse", "ssse3", "avx", "fma", "amx", "f16c")


def _cpu_simd_flags() -> list[str]:
    """SIMD extensions the CPU reports in /proc/cpuinfo (Linux x86), sorted; empty where unknown."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return sorted({flag for flag in flags if flag.startswith(_SIMD_FLAG_PREFIXES)})
    return []


def _usable_cpu_count() -> int | None:
    """CPUs this process may run on (affinity, containers), which can be fewer than os.cpu_count()."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


TO_FINAL_FRACTION = 0.95
TRAIN_FLOPS_RULE = ("3 × forward FLOPs per training image seen (backward ≈ 2 × forward), forward counted by "
                    "torch.utils.flop_counter at the training size")


def learning_speed(history: list[dict[str, Any]], metric: str, forward_flops: int | None,
                   fraction: float = TO_FINAL_FRACTION) -> dict[str, Any]:
    """When validation `metric` first reached `fraction` of its last-epoch value: the epoch (1-based) and the
    training compute spent by then (images seen, FLOPs, seconds). What an initialization buys is mostly speed of
    learning, so records carry it beside the final scores. Flat numeric keys, so leaderboards summarise them."""
    key = f"val_{metric}"
    epochs = [h for h in history if isinstance(h.get(key), (int, float)) and "train_images" in h]
    if not epochs:
        return {}
    final = float(epochs[-1][key])
    threshold = fraction * final
    first = next(h for h in epochs if float(h[key]) >= threshold)
    per_image = 3 * forward_flops if forward_flops else None
    total_images = int(epochs[-1]["train_images"])
    return {
        "epoch_to_95": int(first["epoch"]) + 1,
        "train_images_to_95": int(first["train_images"]),
        "train_flops_to_95": per_image * int(first["train_images"]) if per_image else None,
        "train_seconds_to_95": float(first["train_seconds"]),
        "train_flops": per_image * total_images if per_image else None,
        "to_95": {"metric": key, "fraction": fraction, "final": final, "threshold": threshold,
                  "epochs": len(epochs), "flops_rule": TRAIN_FLOPS_RULE,
                  "rule": f"first epoch whose validation {metric} is at least {fraction:g} × its last-epoch value"},
    }

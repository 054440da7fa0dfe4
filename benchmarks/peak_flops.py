"""This machine's FLOP/s ceiling, the denominator of `flop_fraction`: the larger of a measured and a theoretical peak.

One matmul size at one thread count is not a ceiling: on a 2-core AMD EPYC the harness's training step
reached 1.07–1.13× the FLOP/s of one 1024³ fp32 matmul. So on a CPU the measured peak is the best over
sizes and thread counts, and the theoretical peak is the instruction set's fp32 FMA rate:

    cores × clock × fp32 lanes per vector (16 with avx512f, 8 with avx2+fma) × 2 FLOP per FMA × 2 FMA units per core

The 2 FMA units per core are an assumption (true of recent Intel and AMD server cores; AMD Zen 4 runs AVX-512 on
two 256-bit units, so the formula over-states its peak by 2×, which keeps the fraction an under-estimate).
Cores are the threads PyTorch uses, bounded by the CPUs this process may run on; the clock is the highest
of cpufreq's maximum and /proc/cpuinfo's `cpu MHz` (a guest may see only the nominal clock, so the measured
figure can exceed the theoretical one). On CUDA the measured peak is a bf16 8192³ matmul; no theoretical figure.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

FMA_UNITS_PER_CORE = 2  # assumed, see the module docstring
CPU_SIZES = (512, 1024, 2048)  # at every thread count; 4096 at the full count only (it pays only with many threads)
CPU_LARGE = 4096
MIN_SECONDS = 0.15  # per (size, threads): after a warm-up call, repeat until this much time has passed, keep the best


@dataclass(frozen=True)
class Peak:
    measured: float  # FLOP/s, best matmul seen
    measured_at: str  # e.g. "fp32 2048³, 2 threads"
    theoretical: float | None  # FLOP/s, or None where the formula does not apply
    theoretical_basis: str

    @property
    def denominator(self) -> float:
        return max(self.measured, self.theoretical or 0.0)

    @property
    def used(self) -> str:
        return "theoretical" if self.theoretical is not None and self.theoretical > self.measured else "measured"

    def lines(self) -> list[str]:
        theory = (f"{self.theoretical / 1e9:.1f} GFLOP/s ({self.theoretical_basis})" if self.theoretical is not None
                  else f"none ({self.theoretical_basis})")
        return [f"peak measured: {self.measured / 1e9:.1f} GFLOP/s ({self.measured_at})",
                f"peak theoretical: {theory}",
                f"flop_fraction denominator: {self.used} ({self.denominator / 1e9:.1f} GFLOP/s)"]


def best_matmul(n: int, dtype: torch.dtype, device: torch.device, min_seconds: float = MIN_SECONDS) -> float:
    """Best FLOP/s of an n³ matmul over repeated calls (one warm-up call first)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    best, spent = float("inf"), 0.0
    while spent < min_seconds:
        if device.type == "cuda":
            torch.cuda.synchronize()
        tic = time.perf_counter()
        torch.mm(a, b, out=out)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - tic
        best, spent = min(best, seconds), spent + seconds
    return 2 * n**3 / best


def measured_cpu_peak() -> tuple[float, int, int]:
    """Best fp32 matmul FLOP/s over sizes and thread counts (1, 2, 4, … and the full count), with the size and
    thread count that reached it; restores the thread count."""
    full = torch.get_num_threads()
    counts = sorted({min(2**k, full) for k in range(full.bit_length() + 1)})
    best = (0.0, 0, 0)
    try:
        for threads in counts:
            torch.set_num_threads(threads)
            for n in CPU_SIZES + ((CPU_LARGE,) if threads == full else ()):
                best = max(best, (best_matmul(n, torch.float32, torch.device("cpu")), n, threads))
    finally:
        torch.set_num_threads(full)
    return best


def theoretical_cpu_peak(cpuinfo: str | None = None, cores: int | None = None,
                         max_khz: str | None = None) -> tuple[float | None, str]:
    """The fp32 FMA rate the instruction set allows (formula and assumption in the module docstring)."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    flags = set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), []))
    if "avx512f" in flags:
        lanes, isa = 16, "avx512f"
    elif {"avx2", "fma"} <= flags:
        lanes, isa = 8, "avx2+fma"
    else:
        return None, "no avx512f or avx2+fma flag in /proc/cpuinfo"
    if cores is None:
        cores = min(torch.get_num_threads(), len(os.sched_getaffinity(0)))
    mhz = [float(line.split(":", 1)[1]) for line in cpuinfo.splitlines() if line.startswith("cpu MHz")]
    if max_khz is None:
        path = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
        max_khz = path.read_text() if path.is_file() else None
    if max_khz is not None:
        mhz.append(int(max_khz) / 1000)
    if not mhz:
        return None, "no clock in /proc/cpuinfo or cpufreq"
    clock = max(mhz) * 1e6
    basis = (f"{cores} cores × {clock / 1e9:.2f} GHz × {lanes} fp32 lanes ({isa}) × 2 FLOP/FMA "
             f"× {FMA_UNITS_PER_CORE} FMA units/core, assumed")
    return cores * clock * lanes * 2 * FMA_UNITS_PER_CORE, basis

"""The statistics a leaderboard prints: t intervals over seeds, paired tests against a baseline,
a paired bootstrap over test images, and Pareto fronts. Vectorised so 1,000 records stay fast."""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import stdtr, stdtrit

LEVEL = 0.95
ALPHA = 0.05


def t_interval(mean: np.ndarray, sd: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % confidence interval of a mean over n seeds (Student t, n − 1 df); NaN where n < 2."""
    n = np.asarray(n, dtype=float)
    df = np.where(n >= 2, n - 1, np.nan)
    half = stdtrit(df, 0.5 + LEVEL / 2) * np.asarray(sd, dtype=float) / np.sqrt(n)
    return np.asarray(mean) - half, np.asarray(mean) + half


def paired_t_pvalue(diff_mean: np.ndarray, diff_sd: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided p of the paired t-test from per-seed differences; NaN where n < 2 or the differences never vary."""
    n = np.asarray(n, dtype=float)
    sd = np.asarray(diff_sd, dtype=float)
    defined = (n >= 2) & (sd > 0)
    t = np.where(defined, np.asarray(diff_mean, dtype=float) / np.where(defined, sd, 1.0) * np.sqrt(n), np.nan)
    return np.where(defined, 2 * stdtr(np.where(defined, n - 1, 1.0), -np.abs(t)), np.nan)


# A bootstrap metric: (resample counts B×N, correct S×N bool, targets N int) → values B×S.
BootstrapMetric = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _accuracy(counts: np.ndarray, correct: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return counts @ correct.T.astype(float) / counts.sum(axis=1, keepdims=True)


def _balanced_accuracy(counts: np.ndarray, correct: np.ndarray, targets: np.ndarray) -> np.ndarray:
    recalls = []
    for cls in np.unique(targets):
        member = (targets == cls).astype(float)
        support = counts @ member  # B
        hits = counts @ (correct & (targets == cls)).T.astype(float)  # B×S
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(hits / support[:, None])
    return np.nanmean(np.stack(recalls), axis=0)


BOOTSTRAP_METRICS: dict[str, BootstrapMetric] = {"accuracy": _accuracy, "balanced_accuracy": _balanced_accuracy}


def paired_bootstrap(targets: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray, metric: str,
                     resamples: int = 2000, seed: int = 0, chunk: int = 250) -> tuple[float, float]:
    """Mean over seeds of metric(A) − metric(B), and its two-sided bootstrap p-value.

    `predicted_*` are S×N predicted labels of S matched seeds on the same N test images. Each
    resample draws the N images with replacement once and applies it to both sides and every seed,
    so the test is paired at the image level; p = 2·min(P*(δ ≤ 0), P*(δ ≥ 0)) with the +1 correction.
    """
    score = BOOTSTRAP_METRICS[metric]
    targets = np.asarray(targets)
    correct_a, correct_b = np.atleast_2d(predicted_a) == targets, np.atleast_2d(predicted_b) == targets
    full = np.ones((1, targets.size))
    observed = float((score(full, correct_a, targets) - score(full, correct_b, targets)).mean())
    rng = np.random.default_rng(seed)
    deltas = []
    for start in range(0, resamples, chunk):
        counts = rng.multinomial(targets.size, np.full(targets.size, 1 / targets.size), size=min(chunk, resamples - start))
        deltas.append((score(counts, correct_a, targets) - score(counts, correct_b, targets)).mean(axis=1))
    delta = np.concatenate(deltas)
    tail = min(np.sum(delta <= 0), np.sum(delta >= 0))
    return observed, float(min(1.0, 2 * (tail + 1) / (resamples + 1)))


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for points no other point beats on both axes (higher is better on both)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    at_least = (x[None, :] >= x[:, None]) & (y[None, :] >= y[:, None])
    strictly = (x[None, :] > x[:, None]) | (y[None, :] > y[:, None])
    return ~np.any(at_least & strictly, axis=1)

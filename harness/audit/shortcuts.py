"""Shortcuts: file properties that predict the label without looking at the anatomy.

A folder compiled from several sources often differs by class in how its files were saved (the brain
MRI release: glioma mostly grayscale JPEGs, notumor mostly RGB), and a network learns that instead of
the disease. For each property read from the file header alone (channel mode, image size, file format,
JPEG quality; no pixels are decoded), a one-feature classifier (the majority label of each property
value, fitted on the other folds) is scored by cross-validated balanced accuracy, with folds made of
whole groups (patients, lesions, copy clusters) so a group cannot vouch for itself; the folds' scores are
averaged (pooling out-of-fold predictions would put a constant property below chance). A permutation test
says how often shuffled labels score as high; a property scoring clearly above chance is a warning.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np
from PIL import Image

from harness.data import data_files

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

PROPERTIES = ("channel_mode", "image_size", "file_format", "jpeg_quality")
FOLDS = 5
PERMUTATIONS = 200
WARN_P_VALUE = 0.01
WARN_MARGIN = 0.05  # balanced accuracy this far above chance (and significant) is a warning

# The IJG (libjpeg) luminance quantisation table at quality 50, in natural (row-major) order: a file's
# table is compared with it scaled to each quality 1..100 (what PIL and most encoders write).
_IJG_LUMINANCE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)


@dataclass(frozen=True)
class Shortcut:
    """How well one file property alone predicts the label."""

    prop: str
    values: dict[str, dict[str, int]]  # property value -> label name -> count
    balanced_accuracy: float
    chance: float
    p_value: float

    @property
    def warning(self) -> bool:
        return self.p_value <= WARN_P_VALUE and self.balanced_accuracy >= self.chance + WARN_MARGIN

    def to_dict(self) -> dict[str, Any]:
        return {"property": self.prop, "balanced_accuracy": round(self.balanced_accuracy, 4),
                "chance": round(self.chance, 4), "p_value": round(self.p_value, 4), "warning": self.warning,
                "values": self.values}


def file_properties(path: Path) -> dict[str, str]:
    """The header facts of one image file; unreadable files say so instead of failing the audit."""
    try:
        with Image.open(path) as image:
            quality = _jpeg_quality(image) if image.format == "JPEG" else None
            return {"channel_mode": image.mode, "image_size": f"{image.size[0]}x{image.size[1]}",
                    "file_format": str(image.format), "jpeg_quality": "n/a" if quality is None else str(quality)}
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return {prop: "unreadable" for prop in PROPERTIES}


def _jpeg_quality(image: Image.Image) -> int | None:
    """The IJG quality whose scaled luminance table is closest to the file's (None: no table)."""
    tables = getattr(image, "quantization", None) or {}
    if 0 not in tables:
        return None
    found = np.asarray(tables[0], dtype=np.float64)[:64]  # Pillow gives natural order, like the table above
    qualities = np.arange(1, 101)
    scale = np.where(qualities < 50, 5000 / qualities, 200 - 2 * qualities)[:, None]
    candidates = np.clip(np.floor((_IJG_LUMINANCE[None] * scale + 50) / 100), 1, 255)
    return int(qualities[np.abs(candidates - found[None]).sum(axis=1).argmin()])


def read_properties(paths: Sequence[Path]) -> list[dict[str, str]]:
    """Header properties of many files; PIL reads headers only, so this costs file opens, not decoding."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(file_properties, paths))


def shortcuts(properties: Sequence[dict[str, str]], labels: Sequence[int], label_names: Sequence[str],
              groups: Sequence[str], seed: int = 0) -> list[Shortcut]:
    """One `Shortcut` per property, scored with grouped cross-validation and a permutation test."""
    y = np.asarray(labels, dtype=np.int64)
    folds = _group_folds(groups, seed)
    rng = np.random.default_rng(seed)
    permuted = [rng.permutation(y) for _ in range(PERMUTATIONS)]
    present = np.unique(y)
    found = []
    for prop in PROPERTIES:
        names = [p[prop] for p in properties]
        codes = np.unique(names, return_inverse=True)[1]
        score = _cv_balanced_accuracy(codes, y, folds, len(label_names))
        null = np.array([_cv_balanced_accuracy(codes, p, folds, len(label_names)) for p in permuted])
        table: dict[str, dict[str, int]] = {}
        for value, label in zip(names, y):
            row = table.setdefault(value, {})
            row[label_names[label]] = row.get(label_names[label], 0) + 1
        found.append(Shortcut(prop, dict(sorted(table.items())), score, 1.0 / len(present),
                              float((1 + (null >= score - 1e-12).sum()) / (1 + PERMUTATIONS))))
    return found


def _group_folds(groups: Iterable[str], seed: int) -> np.ndarray:
    """A fold per item; whole groups are dealt to folds in a seeded order."""
    unique, inverse = np.unique(np.asarray(list(groups), dtype=str), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of_group = np.empty(len(unique), dtype=np.int64)
    fold_of_group[order] = np.arange(len(unique)) % min(FOLDS, len(unique))
    return fold_of_group[inverse]


def _cv_balanced_accuracy(codes: np.ndarray, y: np.ndarray, folds: np.ndarray, n_classes: int) -> float:
    """Mean over folds of the balanced accuracy of "the majority label of this value" fitted on the
    other folds (a value unseen there gets their majority label): a constant property scores chance."""
    n_codes, n_folds = int(codes.max()) + 1, int(folds.max()) + 1
    per_fold = np.bincount((folds * n_codes + codes) * n_classes + y,
                           minlength=n_folds * n_codes * n_classes).reshape(n_folds, n_codes, n_classes)
    training = per_fold.sum(axis=0)[None] - per_fold  # counts of the other folds, per fold
    fallback = training.sum(axis=1).argmax(axis=1)  # (n_folds,)
    majority = np.where(training.sum(axis=2) > 0, training.argmax(axis=2), fallback[:, None])
    correct = majority[folds, codes] == y
    cell = folds * n_classes + y
    hits = np.bincount(cell, weights=correct, minlength=n_folds * n_classes).reshape(n_folds, n_classes)
    support = np.bincount(cell, minlength=n_folds * n_classes).reshape(n_folds, n_classes)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    return float((recall.sum(axis=1) / np.maximum((support > 0).sum(axis=1), 1)).mean())


def task_shortcuts(spec: "TaskSpec", data_dir: Path | None = None) -> list[Shortcut] | None:
    """The shortcuts of a folder dataset's files (all splits together); None for array files,
    whose pixels were already normalised by their publisher and carry no file properties."""
    files = data_files(spec, data_dir) if spec.kind.single_label else None
    if files is None:
        return None
    items = [item for item, _ in files]
    return shortcuts(read_properties([item.image for item in items]), [int(item.label) for item in items],
                     spec.label_names, [item.group or item.key for item in items])


def describe_shortcuts(found: list[Shortcut]) -> list[str]:
    """A line per property: its score against chance, and a warning when it predicts the label."""
    lines = ["shortcuts (one file property alone → label; balanced accuracy, grouped 5-fold CV):"]
    for s in found:
        flag = "  WARNING: predicts the label" if s.warning else ""
        lines.append(f"  {s.prop}: {s.balanced_accuracy:.3f} vs chance {s.chance:.3f} (permutation p = "
                     f"{s.p_value:.3f}, {len(s.values)} value(s)){flag}")
    return lines

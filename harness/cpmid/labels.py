"""The unified label space: every source's classes become `source/class` columns of one multi-hot head.

Single-label sources are one-hot within their block, multilabel ones (ChestMNIST) keep their 0/1
vector; optional `modality/<name>` columns let one head also learn the imaging modality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LabelSpace:
    names: tuple[str, ...]
    offsets: tuple[int, ...]  # first column of each source's block, in recipe order
    modality_columns: dict[str, int]  # empty unless the recipe asks for modality labels

    @classmethod
    def build(cls, sources: list[tuple[str, tuple[str, ...], str]], modality_labels: bool) -> "LabelSpace":
        """sources: (name, class names, modality) in recipe order."""
        names: list[str] = []
        offsets = []
        for source, classes, _ in sources:
            offsets.append(len(names))
            names.extend(f"{source}/{c}" for c in classes)
        modalities = sorted({m for _, _, m in sources}) if modality_labels else []
        columns = {m: len(names) + i for i, m in enumerate(modalities)}
        names.extend(f"modality/{m}" for m in modalities)
        return cls(tuple(names), tuple(offsets), columns)

    def rows(self, source_index: int, source_targets: np.ndarray, modality: str) -> np.ndarray:
        """(n, L) uint8 multi-hot rows for images of one source, from its (n, K) multi-hot block."""
        rows = np.zeros((len(source_targets), len(self.names)), dtype=np.uint8)
        start = self.offsets[source_index]
        rows[:, start:start + source_targets.shape[1]] = source_targets
        if modality in self.modality_columns:
            rows[:, self.modality_columns[modality]] = 1
        return rows

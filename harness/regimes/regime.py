"""How an initialization is evaluated: the mode, the label budget and the image size of a run.

An init's worth depends on how it is used (MedMNIST+ compares end-to-end fine-tuning, linear
probing and kNN at four resolutions; BenchMD scores label budgets), so these are part of a
record's identity. The default regime (fine-tune, every label, the protocol's size) has an empty
tag, which keeps the record names of runs made before regimes existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import MedbenchError
from harness.record import DEFAULT_MODE, FULL_BUDGET

KNN_K = 11  # MedMNIST+ (Doerrich et al. 2024): k = 11 in the released config.yaml
MIN_IMAGE_SIZE = 8


def parse_label_budget(text: str | int | None) -> int | None:
    """`full` (or nothing) → None; a positive integer of labels per class → that integer."""
    if text is None or str(text).strip().lower() == FULL_BUDGET:
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise MedbenchError(f"--label-budget must be a positive integer (labels per class) or 'full', "
                            f"not {text!r}") from None
    if value < 1:
        raise MedbenchError(f"--label-budget must be at least 1 label per class, not {value}")
    return value


@dataclass(frozen=True)
class Regime:
    """The evaluation regime asked for; `image_size` None means the protocol's size (or the task's native one)."""

    mode: str = DEFAULT_MODE
    label_budget: int | None = None  # labels per class (segmentation: training images); None = every label
    image_size: int | None = None
    knn_k: int = KNN_K

    def __post_init__(self) -> None:
        if self.image_size is not None and self.image_size < MIN_IMAGE_SIZE:
            raise MedbenchError(f"--image-size must be at least {MIN_IMAGE_SIZE} px, not {self.image_size}")
        if self.knn_k < 1:
            raise MedbenchError(f"--knn-k must be at least 1, not {self.knn_k}")

    @property
    def tag(self) -> str:
        """The part of a record's file name that tells regimes apart; empty for the default regime."""
        parts = []
        if self.mode != DEFAULT_MODE:
            parts.append(f"knn-k{self.knn_k}" if self.mode == "knn" else self.mode)
        if self.label_budget is not None:
            parts.append(f"budget{self.label_budget}")
        if self.image_size is not None:
            parts.append(f"px{self.image_size}")
        return "__".join(parts)

    def record_fields(self, image_size: int, details: dict[str, Any]) -> dict[str, Any]:
        """Top-level record fields: mode, label_budget, image_size, and what the regime did in `regime`."""
        return {"mode": self.mode, "label_budget": FULL_BUDGET if self.label_budget is None else self.label_budget,
                "image_size": image_size,
                "regime": {"tag": self.tag, "size_override": self.image_size is not None, **details}}

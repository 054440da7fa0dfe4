"""The registry of phantom families: name, modality, channels, classes, role and the renderer that draws
one image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harness.errors import MedbenchError
from harness.registry import Registry

ROLES = ("downstream", "pretraining")

# A renderer draws one image of class `label` at `size` px from `rng`:
# it returns the image as float (H, W, C) in about [0, 1] and the lesion mask as bool (H, W).
Renderer = Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class SyntheticFamily:
    name: str
    modality: str
    channels: int
    class_names: tuple[str, ...]
    role: str
    description: str
    render: Renderer

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise MedbenchError(f"synthetic family {self.name!r}: role must be one of {ROLES}, not {self.role!r}")
        if self.channels not in (1, 3):
            raise MedbenchError(f"synthetic family {self.name!r}: channels must be 1 or 3")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


FAMILIES: Registry[SyntheticFamily] = Registry("synthetic family")


def family(name: str, modality: str, channels: int, class_names: tuple[str, ...], role: str,
           description: str) -> Callable[[Renderer], Renderer]:
    """Register the decorated renderer as a family."""
    def decorate(render: Renderer) -> Renderer:
        FAMILIES.add(name, SyntheticFamily(name, modality, channels, class_names, role, description, render))
        return render
    return decorate

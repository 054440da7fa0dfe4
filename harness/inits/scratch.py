"""`scratch`: random initialisation, the baseline every other source is compared against."""

from __future__ import annotations

from harness.inits.base import INIT_SOURCES, ResolvedWeights, no_argument


@INIT_SOURCES.register("scratch")
class ScratchSource:
    name = "scratch"
    description = "no pretrained weights: timm's default random initialisation"

    def __init__(self, arg: str | None = None) -> None:
        no_argument(self.name, arg)

    def resolve(self, backbone: str) -> ResolvedWeights:
        return ResolvedWeights(state_dict=None, sha256=None, provenance={"source": "scratch"})

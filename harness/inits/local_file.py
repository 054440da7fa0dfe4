"""`file:PATH`: weights from a local file, e.g. a submission's checkpoint or a converted model."""

from __future__ import annotations

from pathlib import Path

from harness.inits.base import INIT_SOURCES, ResolvedWeights, require_argument
from harness.inits.safe_load import load_weights_file


@INIT_SOURCES.register("file")
class FileSource:
    name = "file"
    usage = "file:PATH"
    description = "a local weights file in timm key space (safetensors; torch.save files load tensors only)"

    def __init__(self, arg: str | None = None) -> None:
        self.path = Path(require_argument(self.name, arg, self.usage)).expanduser().resolve()

    def resolve(self, backbone: str) -> ResolvedWeights:
        state_dict, sha256 = load_weights_file(self.path)
        provenance = {"source": "file", "reference": f"file:{self.path}", "path": str(self.path)}
        return ResolvedWeights(state_dict, sha256, provenance)

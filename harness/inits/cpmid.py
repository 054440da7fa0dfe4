"""`cpmid[:RECIPE]`: our CPMID-pretrained release for the backbone, pretrained first when absent.

The release is looked up under $MEDBENCH_HOME/releases/<recipe>/<backbone>/<pretraining protocol>/.
A run chooses the pretraining protocol that matches its own (`quick` → `pretrain-quick`), so the
demo pretrains within its budget and a `paper` run never silently uses demo-grade weights. A
published release is used through `--init hf:ORG/REPO@REV`.
"""

from __future__ import annotations

import json
import sys

from harness.inits.base import INIT_SOURCES, ResolvedWeights
from harness.inits.safe_load import load_weights_file

DEFAULT_RECIPE = "cpmid-synth"
DEFAULT_PRETRAINING = "pretrain-quick"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@INIT_SOURCES.register("cpmid")
class CpmidSource:
    name = "cpmid"
    usage = "cpmid[:RECIPE]"
    description = (f"our CPMID-pretrained release (recipe {DEFAULT_RECIPE} by default); "
                   "built and pretrained under $MEDBENCH_HOME first when absent")

    def __init__(self, arg: str | None = None, pretraining: str = DEFAULT_PRETRAINING) -> None:
        self.recipe = arg or DEFAULT_RECIPE
        self.pretraining = pretraining

    def for_protocol(self, run_protocol: str) -> "CpmidSource":
        """The same source, pretraining with the protocol that matches the run's."""
        from harness.protocols import pretraining_protocol

        return CpmidSource(self.recipe, pretraining_protocol(run_protocol).name)

    def resolve(self, backbone: str) -> ResolvedWeights:
        from harness.engine import pick_device
        from harness.pretrain import cpmid_folder, pretrain, release_folder
        from harness.protocols import PROTOCOLS

        folder = release_folder(self.recipe, backbone, self.pretraining)
        if not (folder / "model.safetensors").is_file():
            _say(f"no local CPMID release for {backbone} (recipe {self.recipe}, {self.pretraining}) in {folder}: "
                 "building and pretraining it first")
            pretrain(self.recipe, backbone, PROTOCOLS.get(self.pretraining), device=pick_device("auto"), report=_say,
                     progress=sys.stderr.isatty())
        state_dict, sha256 = load_weights_file(folder / "model.safetensors")
        config = json.loads((folder / "config.json").read_text())
        meta = config.get("medbench", {})
        cfg = config.get("pretrained_cfg", {})
        provenance = {
            "source": "cpmid", "recipe": self.recipe, "recipe_sha256": meta.get("recipe_sha256"),
            "pretraining_protocol": self.pretraining, "release_folder": str(folder),
            "cpmid_build": str(cpmid_folder(self.recipe)),  # screened against at run start (harness.cpmid.screening)
            "pretraining_val_metrics": meta.get("val_metrics"), "pretraining_git_sha": meta.get("git_sha"),
            "architecture": config.get("architecture"),
        }
        return ResolvedWeights(state_dict, sha256, provenance, tuple(cfg["mean"]) if "mean" in cfg else None,
                               tuple(cfg["std"]) if "std" in cfg else None)


"""`hf:ORG/REPO[@REVISION]`: anyone's weights published in timm's Hub layout (config.json + weights).

The revision is resolved once, through config.json, to a commit; the weights are then fetched at
that exact commit so that both files come from the same snapshot even if the branch moves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import MedbenchError
from harness.inits.base import INIT_SOURCES, ResolvedWeights, require_argument
from harness.inits.hub import download, download_weights
from harness.inits.safe_load import load_weights_file


@INIT_SOURCES.register("hf")
class HubRepoSource:
    name = "hf"
    usage = "hf:ORG/REPO[@REVISION]"
    description = "a Hugging Face Hub repo in timm's layout (config.json + model.safetensors), pinned to a commit"

    def __init__(self, arg: str | None = None) -> None:
        spec = require_argument(self.name, arg, self.usage)
        self.repo_id, at, revision = spec.partition("@")
        if self.repo_id.count("/") != 1 or not all(self.repo_id.split("/")) or (at and not revision):
            raise MedbenchError(f"cannot read {spec!r} as a Hub repo; use --init {self.usage}")
        self.revision = revision or None

    def resolve(self, backbone: str) -> ResolvedWeights:
        from timm.models import split_model_name_tag

        config_file = download(self.repo_id, "config.json", self.revision)
        config = _read_config(config_file.path)
        architecture = config.get("architecture")
        wanted = split_model_name_tag(backbone)[0]
        if architecture is not None and architecture != wanted:
            raise MedbenchError(f"hf:{self.repo_id} holds weights for {architecture!r}, not {wanted!r}; "
                                f"use --backbone {architecture} or a repo made for {wanted}")  # fmt: skip
        weights_file = download_weights(self.repo_id, config_file.commit)
        state_dict, sha256 = load_weights_file(weights_file.path)
        pretrained_cfg = config.get("pretrained_cfg") or {}
        provenance: dict[str, Any] = {
            "source": "hf",
            "reference": f"hf:{self.repo_id}@{config_file.commit}",
            "hub_repo": self.repo_id,
            "requested_revision": self.revision or "main",
            "revision": config_file.commit,
            "file": weights_file.filename,
            "architecture": architecture,
            "license": pretrained_cfg.get("license") or config.get("license"),
        }
        return ResolvedWeights(
            state_dict,
            sha256,
            provenance,
            mean=_channels(pretrained_cfg, "mean", config_file.path),
            std=_channels(pretrained_cfg, "std", config_file.path),
        )


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MedbenchError(f"cannot read {path} as JSON ({e}); the repo is not in timm's Hub layout") from None
    if not isinstance(config, dict) or not isinstance(config.get("pretrained_cfg", {}), dict):
        raise MedbenchError(f"{path} is not a timm config (expected an object with a pretrained_cfg object)")
    return config


def _channels(pretrained_cfg: dict[str, Any], key: str, path: Path) -> tuple[float, ...] | None:
    value = pretrained_cfg.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    ):
        raise MedbenchError(f"{path}: pretrained_cfg.{key} must be a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)

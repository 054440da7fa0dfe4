"""Helpers shared by the submission tests (this module holds no tests): manifests and weights they make."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import timm
import torch
import yaml
from safetensors.torch import save


def resnet18_state_dict() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False).state_dict()


def safetensors_bytes(state_dict: dict[str, torch.Tensor]) -> bytes:
    return save(state_dict)


def raw_safetensors(header: dict[str, Any], data: bytes, declared_length: int | None = None) -> bytes:
    """A safetensors file written by hand, so its header can lie."""
    encoded = json.dumps(header).encode()
    return struct.pack("<Q", len(encoded) if declared_length is None else declared_length) + encoded + data


def manifest_fields(**overrides: Any) -> dict[str, Any]:
    fields = {
        "id": "test-lab-resnet18",
        "name": "Test Lab ResNet-18",
        "authors": ["Ada Example", "Grace Example"],
        "contact": "lab@example.org",
        "license": "CC-BY-4.0",
        "homepage": "https://example.org/test-lab",
        "description": "Weights made by the test suite.\nTwo lines are fine in a description.",
        "backbone": "resnet18",
        "weights": "file:weights.safetensors",
        "sha256": "0" * 64,
        "pretraining_data": ["Our private chest X-rays"],
        "citation": "Example A. et al. Test weights. 2025.",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def write_submission(folder: Path, data: bytes | None = None, filename: str = "weights.safetensors",
                     **overrides: Any) -> Path:
    """A manifest (and a weights file holding `data`, whose real sha256 it declares unless overridden) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    if data is not None:
        (folder / filename).write_bytes(data)
        overrides.setdefault("weights", f"file:{filename}")
        overrides.setdefault("sha256", hashlib.sha256(data).hexdigest())
    path = folder / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest_fields(**overrides), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path

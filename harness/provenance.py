"""What produced a result: code version, package versions, hardware, time. Read once per process."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import harness

PACKAGES = ("torch", "torchvision", "timm", "segmentation-models-pytorch", "torchmetrics", "numpy",
            "huggingface_hub", "safetensors")


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@lru_cache(maxsize=1)
def git_sha() -> str | None:
    """The commit of the harness source, with '-dirty' when it has uncommitted changes; None outside git."""
    root = Path(harness.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "harness"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def software() -> dict[str, Any]:
    versions = package_versions()
    return {
        "medbench_version": harness.__version__,
        "git_sha": git_sha(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": versions["torch"],
        "timm": versions["timm"],
        "packages": versions,
    }

"""Task cards: small declarative YAML files checked into a `TaskSpec`; the code that runs them is generic.

Cards live in the repository's `tasks/` folder and in any folder named by `MEDBENCH_TASK_DIRS`
(os.pathsep-separated), directly or one subfolder down (`tasks/medmnist/`); `cpmid/` subfolders
hold CPMID recipes, not cards. Unknown keys are errors, so a typo in a card cannot silently change a run.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from harness.audit.policy import DEFAULT_POLICY, POLICIES
from harness.data import LOADERS, DataStatus, TaskData, data_status
from harness.errors import MedbenchError
from harness.registry import Registry
from harness.schema import check_mapping

KINDS = ("binary", "multiclass", "multilabel", "segmentation")
REPO_TASK_DIR = Path(__file__).resolve().parent.parent / "tasks"
NOT_CARD_DIRS = {"cpmid"}  # recipes live there


@dataclass(frozen=True)
class SourceSpec:
    loader: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: str
    description: str
    source: SourceSpec
    label_names: tuple[str, ...]
    channels: int
    image_size: int
    splits: dict[str, int]
    metrics: tuple[str, ...]
    license: str
    citation: str
    modality: str = ""
    homepage: str = ""
    tags: tuple[str, ...] = ()
    url: str = ""  # where `medbench data fetch` downloads source.args.file from
    md5: str = ""  # the published checksum of that file; required with url
    audit_policy: str = DEFAULT_POLICY  # what a run does about cross-split copies (harness.audit.policy)
    card_path: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    @property
    def is_segmentation(self) -> bool:
        return self.kind == "segmentation"

    def load(self, data_dir: Path | None = None) -> TaskData:
        return LOADERS.get(self.source.loader)(self, dict(self.source.args), data_dir)

    def status(self, data_dir: Path | None = None) -> DataStatus:
        """present / downloadable / missing / generated, and where, without loading anything."""
        return data_status(self, data_dir)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_REQUIRED = {f.name for f in dataclasses.fields(TaskSpec) if f.default is dataclasses.MISSING
             and f.default_factory is dataclasses.MISSING}
_ALLOWED = {f.name for f in dataclasses.fields(TaskSpec)} - {"card_path"}


def parse_card(raw: Any, where: str) -> TaskSpec:
    """Check one card's fields and types; every message names the card and the field."""
    check_mapping(raw, where, "task card", _ALLOWED, _REQUIRED)
    if raw["kind"] not in KINDS:
        raise MedbenchError(f"{where}: kind must be one of {', '.join(KINDS)}, not {raw['kind']!r}")
    source = raw["source"]
    if not isinstance(source, dict) or set(source) - {"loader", "args"} or "loader" not in source:
        raise MedbenchError(f"{where}: source must be a mapping with 'loader' and optional 'args'")
    splits = raw["splits"]
    if not isinstance(splits, dict) or set(splits) != {"train", "val", "test"}:
        raise MedbenchError(f"{where}: splits must give train, val and test sizes")
    url, md5 = str(raw.get("url", "")), str(raw.get("md5", "")).lower()
    if md5 and not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise MedbenchError(f"{where}: md5 must be 32 hex digits, not {md5!r}")
    if url and not md5:
        raise MedbenchError(f"{where}: a card with a url needs the file's md5, so downloads can be verified")
    policy = str(raw.get("audit_policy", DEFAULT_POLICY))
    if policy not in POLICIES:
        raise MedbenchError(f"{where}: audit_policy must be one of {', '.join(POLICIES.names())}, not {policy!r}")
    labels = tuple(str(x) for x in raw["label_names"])
    if raw["kind"] == "binary" and len(labels) != 2:
        raise MedbenchError(f"{where}: a binary task needs exactly 2 label_names, got {len(labels)}")
    try:
        return TaskSpec(
            name=str(raw["name"]),
            kind=raw["kind"],
            description=str(raw["description"]).strip(),
            source=SourceSpec(str(source["loader"]), dict(source.get("args") or {})),
            label_names=labels,
            channels=int(raw["channels"]),
            image_size=int(raw["image_size"]),
            splits={k: int(v) for k, v in splits.items()},
            metrics=tuple(str(m) for m in raw["metrics"]),
            license=str(raw["license"]),
            citation=str(raw["citation"]).strip(),
            modality=str(raw.get("modality", "")),
            homepage=str(raw.get("homepage", "")),
            tags=tuple(str(t) for t in raw.get("tags", ())),
            url=url,
            md5=md5,
            audit_policy=policy,
            card_path=where,
        )
    except (TypeError, ValueError) as exc:
        raise MedbenchError(f"{where}: {exc}") from None


def task_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("MEDBENCH_TASK_DIRS", "").split(os.pathsep) if p]
    return [REPO_TASK_DIR, *extra]


@lru_cache(maxsize=None)
def _registry(dirs: tuple[Path, ...]) -> Registry[TaskSpec]:
    registry: Registry[TaskSpec] = Registry("task", listing="medbench tasks list")
    for folder in dirs:
        for card in _card_files(folder):
            try:
                raw = yaml.safe_load(card.read_text())
            except yaml.YAMLError as exc:
                raise MedbenchError(f"{card}: not valid YAML ({str(exc).splitlines()[0]})") from None
            spec = parse_card(raw, str(card))
            registry.add(spec.name, spec)
    return registry


def _card_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in NOT_CARD_DIRS
                     and not p.name.startswith("."))
    return sorted(folder.glob("*.yaml")) + [card for sub in subdirs for card in sorted(sub.glob("*.yaml"))]


def tasks() -> Registry[TaskSpec]:
    return _registry(tuple(task_dirs()))


def get_task(name: str) -> TaskSpec:
    return tasks().get(name)


def tasks_tagged(tag: str) -> list[TaskSpec]:
    return [tasks().get(n) for n in tasks().names() if tag in tasks().get(n).tags]

"""Task cards: small declarative YAML files checked into a `TaskSpec`; the code that runs them is generic.

Cards live in the repository's `tasks/` folder and in any folder named by `MEDBENCH_TASK_DIRS`
(os.pathsep-separated), directly or one subfolder down (`tasks/medmnist/`); `cpmid/` subfolders
hold CPMID recipes, not cards. Unknown keys are errors, so a typo in a card cannot silently change a run.

A card is a plain value at the bottom of the package: its data are read by `harness.data.load_data(spec)`
and its audit policy is applied by `harness.audit`; this module imports neither, so any layer can name a card.
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

from harness.errors import MedbenchError
from harness.kinds import KINDS, TaskKind
from harness.metric_catalogue import quality_metric
from harness.names import safe_name
from harness.registry import Registry
from harness.schema import check_mapping

CHANNELS = (1, 3)
AUDIT_POLICIES = ("warn", "drop-from-train")  # what a run does about cross-split copies (harness.audit.policy)
DEFAULT_AUDIT_POLICY = "warn"
REPO_TASK_DIR = Path(__file__).resolve().parent.parent / "tasks"
NOT_CARD_DIRS = {"cpmid"}  # recipes live there
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's safe loader: the same result, 8× faster


@dataclass(frozen=True)
class SourceSpec:
    loader: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    kind: TaskKind
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
    audit_policy: str = DEFAULT_AUDIT_POLICY  # one of AUDIT_POLICIES
    card_path: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TaskKind(self.kind))  # a card (or code) may give the text

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "kind": self.kind.value}


_REQUIRED = {f.name for f in dataclasses.fields(TaskSpec) if f.default is dataclasses.MISSING
             and f.default_factory is dataclasses.MISSING}
_ALLOWED = {f.name for f in dataclasses.fields(TaskSpec)} - {"card_path"}


def parse_card(raw: Any, where: str) -> TaskSpec:
    """Check one card's fields and types; every message names the card and the field.

    Types are checked, not coerced: `label_names: abc` is not three classes and `channels: -3` is not a size."""
    check_mapping(raw, where, "task card", _ALLOWED, _REQUIRED)
    if raw["kind"] not in KINDS:
        raise MedbenchError(f"{where}: kind must be one of {', '.join(KINDS)}, not {raw['kind']!r}")
    source = raw["source"]
    if not isinstance(source, dict) or set(source) - {"loader", "args"} or not isinstance(source.get("loader"), str):
        raise MedbenchError(f"{where}: source must be a mapping with 'loader' and optional 'args'")
    if not isinstance(source.get("args") or {}, dict):
        raise MedbenchError(f"{where}: source.args must be a mapping, not {type(source['args']).__name__}")
    splits = raw["splits"]
    if not isinstance(splits, dict) or set(splits) != {"train", "val", "test"}:
        raise MedbenchError(f"{where}: splits must give train, val and test sizes")
    url, md5 = _text(raw, "url", where), _text(raw, "md5", where).lower()
    if md5 and not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise MedbenchError(f"{where}: md5 must be 32 hex digits, not {md5!r}")
    if url and not md5:
        raise MedbenchError(f"{where}: a card with a url needs the file's md5, so downloads can be verified")
    policy = _text(raw, "audit_policy", where) or DEFAULT_AUDIT_POLICY
    if policy not in AUDIT_POLICIES:
        raise MedbenchError(f"{where}: audit_policy must be one of {', '.join(sorted(AUDIT_POLICIES))}, not {policy!r}")
    labels = _texts(raw, "label_names", where)
    if not labels or len(set(labels)) != len(labels):
        raise MedbenchError(f"{where}: label_names must be a non-empty list of distinct names")
    if raw["kind"] == TaskKind.BINARY and len(labels) != 2:
        raise MedbenchError(f"{where}: a binary task needs exactly 2 label_names, got {len(labels)}")
    channels = _count(raw["channels"], "channels", where)
    if channels not in CHANNELS:
        raise MedbenchError(f"{where}: channels must be 1 (grey) or 3 (colour), not {channels}")
    image_size = _count(raw["image_size"], "image_size", where)
    if image_size < 1:
        raise MedbenchError(f"{where}: image_size must be a positive number of pixels, not {image_size}")
    metrics = _texts(raw, "metrics", where)
    if not metrics:
        raise MedbenchError(f"{where}: metrics must name at least one metric")
    for metric in metrics:
        quality_metric(metric, where)
    return TaskSpec(
        name=safe_name(raw["name"], f"{where}: task name"),
        kind=TaskKind(raw["kind"]),
        description=_text(raw, "description", where).strip(),
        source=SourceSpec(source["loader"], dict(source.get("args") or {})),
        label_names=labels,
        channels=channels,
        image_size=image_size,
        splits={k: _count(v, f"splits.{k}", where) for k, v in splits.items()},
        metrics=metrics,
        license=_text(raw, "license", where),
        citation=_text(raw, "citation", where).strip(),
        modality=_text(raw, "modality", where),
        homepage=_text(raw, "homepage", where),
        tags=_texts(raw, "tags", where),
        url=url,
        md5=md5,
        audit_policy=policy,
        card_path=where,
    )


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise MedbenchError(f"{where}: {key} must be text, not {type(value).__name__} {value!r}")
    return value


def _texts(raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MedbenchError(f"{where}: {key} must be a list of names in [brackets] or '- ' lines, not {value!r}")
    return tuple(value)


def _count(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MedbenchError(f"{where}: {key} must be a whole number ≥ 0, not {value!r}")
    return value


def task_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("MEDBENCH_TASK_DIRS", "").split(os.pathsep) if p]
    return [REPO_TASK_DIR, *extra]


@lru_cache(maxsize=None)
def _registry(dirs: tuple[Path, ...]) -> Registry[TaskSpec]:
    registry: Registry[TaskSpec] = Registry("task", listing="medbench tasks list")
    for folder in dirs:
        for card in _card_files(folder):
            try:
                raw = yaml.load(card.read_text(), Loader=SAFE_LOADER)
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

"""CPMID recipes: a declared, versioned list of sources and hygiene settings, strictly checked.

Recipes live in `tasks/cpmid/<name>.yaml` (and `<dir>/cpmid/` for each folder in
MEDBENCH_TASK_DIRS). Unknown keys are errors, so a typo cannot silently change what goes into the
pretraining set; every value that shapes the set is recorded in the built manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.copies import DEFAULT_RULE
from harness.data.arrays import SPLITS
from harness.errors import MedbenchError
from harness.kinds import CLASSIFICATION_KINDS, TaskKind
from harness.names import safe_name
from harness.registry import Registry
from harness.schema import check_mapping
from harness.tasks import task_dirs

SOURCE_KINDS = tuple(kind.value for kind in CLASSIFICATION_KINDS)  # CPMID pools classification labels
DEFAULT_MIN_CORRELATION = DEFAULT_RULE.min_correlation
DEFAULT_MIN_DETAIL_CORRELATION = DEFAULT_RULE.min_detail_correlation


@dataclass(frozen=True)
class RecipeSource:
    """One input: a registered task (`task`) or a loader + args for files without a task card."""

    name: str
    task: str | None = None
    loader: str | None = None
    args: dict[str, Any] = dataclasses.field(default_factory=dict)
    label_names: tuple[str, ...] = ()
    kind: str | None = None
    splits: tuple[str, ...] = ("train",)
    cap: int | None = None
    cap_per_class: int | None = None
    modality: str = ""
    license: str = ""
    citation: str = ""


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    description: str
    image_size: int
    channels: int
    seed: int
    val_fraction: float
    sources: tuple[RecipeSource, ...]
    exclude_tasks: tuple[str, ...]
    near_duplicate_min_correlation: float = DEFAULT_MIN_CORRELATION
    near_duplicate_min_detail_correlation: float = DEFAULT_MIN_DETAIL_CORRELATION
    modality_labels: bool = False
    sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The recipe as parsed (defaults filled in), for the manifest; the sha256 is recorded beside it."""
        data = dataclasses.asdict(self)
        data.pop("sha256")
        return data


_TOP_REQUIRED = {"name", "version", "description", "image_size", "channels", "seed", "val_fraction",
                 "sources", "exclude_tasks"}
_TOP_ALLOWED = _TOP_REQUIRED | {"near_duplicate_min_correlation", "near_duplicate_min_detail_correlation",
                                "modality_labels"}
_SOURCE_ALLOWED = {f.name for f in dataclasses.fields(RecipeSource)}


def recipe_dirs() -> list[Path]:
    return [folder / "cpmid" for folder in task_dirs()]


def recipes() -> Registry[Path]:
    """Recipe files by name (file stem); a duplicate name across folders is an error."""
    registry: Registry[Path] = Registry("CPMID recipe")
    for folder in recipe_dirs():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
            registry.add(path.stem, path)
    return registry


def find_recipe(ref: str | Path) -> Path:
    """A recipe path from a name under tasks/cpmid/ or a path to a YAML file."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        if not path.is_file():
            raise MedbenchError(f"recipe file {path} not found; pass a recipe name ({', '.join(recipes().names())}) or an existing path")
        return path
    return recipes().get(str(ref))


def load_recipe(ref: str | Path) -> Recipe:
    path = find_recipe(ref)
    text = path.read_bytes()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MedbenchError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    recipe = parse_recipe(raw, str(path))
    if recipe.name != path.stem:
        raise MedbenchError(f"{path}: name {recipe.name!r} differs from the file name; make them equal")
    return dataclasses.replace(recipe, sha256=hashlib.sha256(text).hexdigest())


def parse_recipe(raw: Any, where: str) -> Recipe:
    """Check every key and type; each message names the file and the key."""
    check_mapping(raw, where, "recipe", _TOP_ALLOWED, _TOP_REQUIRED)
    sources = raw["sources"]
    if not isinstance(sources, list) or not sources:
        raise MedbenchError(f"{where}: 'sources' must be a non-empty list")
    parsed = tuple(parse_source(s, f"{where}: sources[{i}]") for i, s in enumerate(sources))
    _check_unique([s.name for s in parsed], where, "source name")
    recipe = Recipe(
        name=safe_name(_text(raw, "name", where), f"{where}: recipe name"),
        version=_text(raw, "version", where),
        description=_text(raw, "description", where).strip(),
        image_size=_integer(raw, "image_size", where, low=8),
        channels=_integer(raw, "channels", where, low=1),
        seed=_integer(raw, "seed", where, low=0),
        val_fraction=_number(raw, "val_fraction", where, 0.0, 0.9),
        near_duplicate_min_correlation=_number(raw, "near_duplicate_min_correlation", where, -1.0, 1.0,
                                               DEFAULT_MIN_CORRELATION),
        near_duplicate_min_detail_correlation=_number(raw, "near_duplicate_min_detail_correlation", where, -1.0, 1.0,
                                                      DEFAULT_MIN_DETAIL_CORRELATION),
        modality_labels=_flag(raw, "modality_labels", where),
        sources=parsed,
        exclude_tasks=_names(raw, "exclude_tasks", where),
    )
    if recipe.channels not in (1, 3):
        raise MedbenchError(f"{where}: channels must be 1 (gray) or 3 (RGB), not {recipe.channels}")
    _check_unique(list(recipe.exclude_tasks), where, "exclude_tasks entry")
    return recipe


def parse_source(raw: Any, where: str) -> RecipeSource:
    check_mapping(raw, where, "source", _SOURCE_ALLOWED, {"name"})
    if ("task" in raw) == ("loader" in raw):
        raise MedbenchError(f"{where}: give exactly one of 'task' (a registered task) or 'loader' (+ args, label_names, kind)")
    if "task" in raw:
        extra = sorted({"args", "label_names", "kind"} & set(raw))
        if extra:
            raise MedbenchError(f"{where}: '{extra[0]}' comes from the task card; remove it or use 'loader' instead of 'task'")
    else:
        missing = sorted({"label_names", "kind", "license", "citation"} - set(raw))
        if missing:
            raise MedbenchError(f"{where}: a loader source needs '{missing[0]}'")
        if raw["kind"] not in SOURCE_KINDS:
            raise MedbenchError(f"{where}: kind must be one of {', '.join(SOURCE_KINDS)}, not {raw['kind']!r}")
    source = RecipeSource(
        name=_text(raw, "name", where),
        task=_text(raw, "task", where) if "task" in raw else None,
        loader=_text(raw, "loader", where) if "loader" in raw else None,
        args=_mapping(raw, "args", where),
        label_names=_names(raw, "label_names", where),
        kind=raw.get("kind"),
        splits=_names(raw, "splits", where) if "splits" in raw else ("train",),
        cap=_integer(raw, "cap", where, low=1) if raw.get("cap") is not None else None,
        cap_per_class=_integer(raw, "cap_per_class", where, low=1) if raw.get("cap_per_class") is not None else None,
        modality=_text(raw, "modality", where) if "modality" in raw else "",
        license=_text(raw, "license", where) if "license" in raw else "",
        citation=_text(raw, "citation", where).strip() if "citation" in raw else "",
    )
    if "/" in source.name:
        raise MedbenchError(f"{where}: source name {source.name!r} must not contain '/' (it prefixes label names)")
    bad = sorted(set(source.splits) - set(SPLITS))
    if bad or not source.splits:
        raise MedbenchError(f"{where}: splits must be a non-empty list of {', '.join(SPLITS)}, got {list(source.splits)}")
    _check_unique(list(source.splits), where, "split")
    if source.kind == TaskKind.MULTILABEL and source.cap_per_class is not None:
        raise MedbenchError(f"{where}: cap_per_class applies to single-label sources only; use cap for a multilabel source")
    return source


def _check_unique(values: list[str], where: str, what: str) -> None:
    seen = {v for v in values if values.count(v) > 1}
    if seen:
        raise MedbenchError(f"{where}: {what} {sorted(seen)[0]!r} appears twice")


def _text(raw: dict, key: str, where: str) -> str:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value).strip() == "":
        raise MedbenchError(f"{where}: '{key}' must be a non-empty string")
    return str(value)


def _integer(raw: dict, key: str, where: str, low: int, high: int | None = None) -> int:
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"≥ {low}"
        raise MedbenchError(f"{where}: '{key}' must be an integer {bound}, not {value!r}")
    return value


def _number(raw: dict, key: str, where: str, low: float, high: float, default: float | None = None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise MedbenchError(f"{where}: '{key}' must be a number between {low} and {high}, not {value!r}")
    return float(value)


def _flag(raw: dict, key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise MedbenchError(f"{where}: '{key}' must be true or false, not {value!r}")
    return value


def _names(raw: dict, key: str, where: str) -> tuple[str, ...]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise MedbenchError(f"{where}: '{key}' must be a list of names")
    return tuple(str(v) for v in value)


def _mapping(raw: dict, key: str, where: str) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise MedbenchError(f"{where}: '{key}' must be a mapping")
    return dict(value)

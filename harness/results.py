"""Result records: one JSON file per (task, init, backbone, protocol, seed), diffable and versioned.

Records are written atomically (temp file, fsync, rename), never contain NaN, and carry the
provenance needed to reproduce them. Loading tolerates older schema versions.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from harness.atomic import write_atomic, write_text_atomic
from harness.errors import MedbenchError
from harness.names import safe_name

SCHEMA_VERSION = 1
STATUSES = ("ok", "diverged", "failed")
DEFAULT_MODE = "finetune"  # what a record without `mode` was: records predate evaluation regimes
FULL_BUDGET = "full"  # label budget of a run on every training label


def json_safe(value: Any) -> Any:
    """Replace NaN/Inf by None recursively and turn tuples/numpy scalars into JSON types."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Path, data: Any) -> None:
    """Serialise first (a bad value raises before anything is touched), then write atomically."""
    write_text_atomic(path, json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n")


def slug(text: str) -> str:
    """A file-name-safe form of an init reference; long or lossy ones get a short hash to stay unique."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")
    if clean != text or len(clean) > 60:
        clean = f"{clean[:48]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return clean


def record_path(out: Path, task: str, init: str, backbone: str, protocol: str, seed: int, variant: str = "") -> Path:
    """`variant` names a non-default evaluation regime (e.g. `linear-probe__budget8__px224`); the default has none,
    so records made before regimes existed keep their names."""
    middle = f"{safe_name(protocol, 'protocol name')}__{variant}" if variant else safe_name(protocol, "protocol name")
    return out / safe_name(task, "task name") / f"{slug(init)}__{slug(backbone)}__{middle}__seed{seed}.json"


def write_test_predictions(path: Path, targets: np.ndarray, probs: np.ndarray) -> None:
    """Per-image test probabilities beside a record, for paired bootstraps between init sources."""
    arrays = {"targets": targets, "probs": probs.astype(np.float32)}
    write_atomic(path, lambda handle: np.savez_compressed(handle, **arrays))


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number a record may hold (medbench writes null for undefined values)")


def load_record(path: Path) -> dict[str, Any]:
    """A record as written by `write_json_atomic`: a JSON object with no NaN/Infinity and a known schema version."""
    try:
        record = json.loads(path.read_text(), parse_constant=_no_constants)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MedbenchError(f"{path} is not a readable result record ({exc}); delete it and re-run") from None
    if not isinstance(record, dict):
        raise MedbenchError(f"{path} holds a JSON {type(record).__name__}, not a result record (an object); "
                            "move it out of the results folder")
    version = record.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise MedbenchError(f"{path}: schema_version {version!r} is not one this medbench reads (≤ {SCHEMA_VERSION}); upgrade medbench")
    return record


RUNS_NOT_OK_EXIT = 3  # `medbench run` finished its grid but some run failed or diverged (2 is a user error)


def runs_not_ok(paths: Iterable[Path]) -> str | None:
    """One line naming the runs among `paths` that ended failed or diverged (and why), or None when all are ok.

    A path without a record (another worker holds the cell) is not counted."""
    paths = [path for path in paths if path.is_file()]
    bad = []
    for path in paths:
        record = load_record(path)
        if record.get("status") != "ok":
            why = f" ({' '.join(str(record.get('error')).split())[:160]})" if record.get("error") else ""
            bad.append(f"{record.get('task')} {record.get('init')} {record.get('backbone')} seed={record.get('seed')} "
                       f"{record.get('status')}{why}")
    if not bad:
        return None
    return f"{len(bad)} of {len(paths)} runs did not finish ok: {'; '.join(bad)}"


def iter_records(folder: Path) -> Iterable[tuple[Path, dict[str, Any]]]:
    if not folder.is_dir():
        raise MedbenchError(f"results folder {folder} does not exist; run `medbench run --out {folder}` first")
    for path in sorted(folder.rglob("*.json")):
        record = load_record(path)
        if "task" in record and "metrics" in record:
            yield path, record


def scalars(section: dict[str, Any] | None) -> dict[str, float]:
    """The numeric entries of a record section (metrics, efficiency); lists, strings and flags are left out."""
    return {name: float(value) for name, value in (section or {}).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def regime_of(record: dict[str, Any]) -> dict[str, Any]:
    """A record's evaluation regime as table columns; records made before regimes existed were fine-tuned on every
    label at their model's size. `label_budget` is text ("8", "full") so one column holds both kinds."""
    budget = record.get("label_budget")
    return {"mode": record.get("mode") or DEFAULT_MODE, "label_budget": FULL_BUDGET if budget is None else str(budget),
            "image_size": record.get("image_size") or (record.get("model") or {}).get("image_size")}

"""Result records: one JSON file per (task, init, backbone, protocol, seed), diffable and versioned.

Records are written atomically (temp file, fsync, rename), never contain NaN, and carry the
provenance needed to reproduce them. What a record holds, and how older schema versions are read,
is `harness.record.RunRecord`; this module is about files: names, atomic writes, reading folders.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from harness.atomic import write_atomic, write_text_atomic
from harness.errors import MedbenchError
from harness.names import safe_name
from harness.record import RunRecord, dumps, parse_json


def write_json_atomic(path: Path, data: Any) -> None:
    """Serialise first (a bad value raises before anything is touched), then write atomically."""
    write_text_atomic(path, dumps(data))


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


def read_json(path: Path) -> Any:
    """A JSON file as medbench writes them (no NaN/Infinity); an unreadable one is one line naming it."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise MedbenchError(f"{path} is not a readable result record ({exc}); delete it and re-run") from None
    return parse_json(text, str(path))


def load_record(path: Path) -> RunRecord:
    """The record in `path`, checked and upgraded to the current schema (`RunRecord.from_dict`)."""
    return RunRecord.from_dict(read_json(path), str(path))


RUNS_NOT_OK_EXIT = 3  # `medbench run` finished its grid but some run failed or diverged (2 is a user error)


def runs_not_ok(paths: Iterable[Path]) -> str | None:
    """One line naming the runs among `paths` that ended failed or diverged (and why), or None when all are ok.

    A path without a record (another worker holds the cell) is not counted."""
    paths = [path for path in paths if path.is_file()]
    bad = []
    for path in paths:
        record = load_record(path)
        if record.status != "ok":
            why = f" ({' '.join(record.error.split())[:160]})" if record.error else ""
            bad.append(f"{record.task} {record.init} {record.backbone} seed={record.seed} {record.status}{why}")
    if not bad:
        return None
    return f"{len(bad)} of {len(paths)} runs did not finish ok: {'; '.join(bad)}"


def iter_records(folder: Path) -> Iterable[tuple[Path, RunRecord]]:
    """Every record under `folder`; other JSON objects (a sweep's grid) are passed over, broken files are errors."""
    if not folder.is_dir():
        raise MedbenchError(f"results folder {folder} does not exist; run `medbench run --out {folder}` first")
    for path in sorted(folder.rglob("*.json")):
        record = record_in(path)
        if record is not None:
            yield path, record


def record_in(path: Path) -> RunRecord | None:
    """The record in a JSON file of a results folder; None for another JSON object there (a sweep's grid)."""
    raw = read_json(path)
    if isinstance(raw, dict) and not ("task" in raw and "metrics" in raw):
        return None
    return RunRecord.from_dict(raw, str(path))

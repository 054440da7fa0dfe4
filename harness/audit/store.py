"""Audits cached per dataset checksum under $MEDBENCH_HOME/audits/<task>/<data sha256>.json: the same
pixels are audited once, whatever folder they were loaded from; changed pixels get a new audit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import harness
from harness.audit.find import find_copies
from harness.audit.result import Audit
from harness.cache import READ_ERRORS, read_json, write_json
from harness.copies import DEFAULT_RULE, CopyRule
from harness.data import item_splits, load_data
from harness.data.arrays import SPLITS, TaskData
from harness.errors import MedbenchError
from harness.names import safe_name
from harness.paths import medbench_home
from harness.provenance import now_utc

if TYPE_CHECKING:
    from harness.tasks import TaskSpec



def audit_root() -> Path:
    return medbench_home() / "audits"


def audit_task(spec: "TaskSpec", data_dir: Path | None = None, data: TaskData | None = None,
               refresh: bool = False, rule: CopyRule = DEFAULT_RULE) -> tuple[Audit, bool]:
    """The audit of the task's data as loaded (`data`, or loaded from `data_dir`), and whether it came
    from the cache. A cached audit made with another rule or audit version is redone."""
    data = data if data is not None else load_data(spec, data_dir)
    sha = data.sha256
    path = audit_root() / safe_name(spec.name, "task name") / f"{sha}.json"
    cached = None if refresh else _read(path)
    if cached is not None and cached.near_rule == rule.describe():
        return cached, True
    started = time.perf_counter()
    groups = find_copies({split: data.split(split).images for split in SPLITS}, rule, _item_names(spec, data_dir))
    audit = Audit(spec.name, sha, {split: len(data.split(split)) for split in SPLITS}, groups, rule.describe(),
                  round(time.perf_counter() - started, 2), now_utc(), harness.__version__)
    write_json(path, audit.to_dict(), indent=1)
    return audit, False


def latest_audit(name: str) -> Audit | None:
    """The most recently written readable audit of the task, whatever data it was loaded from."""
    folder = audit_root() / safe_name(name, "task name")
    paths = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    return next((audit for audit in map(_read, paths) if audit is not None), None)


def _read(path: Path) -> Audit | None:
    """None for an absent, unreadable or outdated cache file: it is simply computed again."""
    raw = read_json(path)
    try:
        return None if raw is None else Audit.from_dict(raw)
    except (*READ_ERRORS, MedbenchError):
        return None


def _item_names(spec: "TaskSpec", data_dir: Path | None) -> dict[str, list[str]] | None:
    """File ids per split for folder datasets, in load order; array files only have indices."""
    rows = item_splits(spec, data_dir)
    if rows is None:
        return None
    names: dict[str, list[str]] = {split: [] for split in SPLITS}
    for key, _, split in rows:
        names[split].append(key)
    return names

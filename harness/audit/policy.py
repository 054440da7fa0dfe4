"""What a run does about a task's cross-split copies: the card's `audit_policy`, one registered entry each
for every name the card schema allows (harness.tasks.AUDIT_POLICIES).

`warn` trains on the data as published and says how many copies cross splits; `drop-from-train`
removes every train image that has an exact or near copy in val or test, so the fixed evaluation
splits stay as published. Either way the run record carries the audit's counts and what was done.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from harness.audit.result import Audit
from harness.audit.store import audit_task
from harness.data.arrays import TaskData
from harness.registry import Registry
from harness.skips import SKIP_ENV, skips

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

Policy = Callable[[TaskData, Audit], TaskData]
POLICIES: Registry[Policy] = Registry("audit policy")


@POLICIES.register("warn")
def keep_all(data: TaskData, audit: Audit) -> TaskData:
    return data


@POLICIES.register("drop-from-train")
def drop_from_train(data: TaskData, audit: Audit) -> TaskData:
    drop = audit.train_indices_in_cross_split_groups()
    keep = np.setdiff1d(np.arange(len(data.train)), np.asarray(drop, dtype=np.int64))
    return TaskData(data.train.subset(keep), data.val, data.test)


def apply_audit_policy(task: "TaskSpec", data: TaskData, data_dir: Path | None = None,
                       report: Callable[[str], Any] = print) -> tuple[TaskData, dict[str, Any]]:
    """The data a run trains on under the card's policy, and the record's `data_audit` field; the
    audit is computed once per data checksum and cached. Under MEDBENCH_SKIP=data-audit a card that only
    warns is not audited (the note says so): nothing it trains on would change."""
    if task.audit_policy == "warn" and skips("data-audit"):
        return data, {"policy": task.audit_policy, "skipped": f"{SKIP_ENV}=data-audit"}
    audit, _ = audit_task(task, data_dir, data)
    used = POLICIES.get(task.audit_policy)(data, audit)
    counts = audit.counts()
    note = {"policy": task.audit_policy, "audited_sha256": audit.data_sha256,
            "cross_split_exact": counts["cross_split_exact"], "cross_split_near": counts["cross_split_near"],
            "train_in_cross_split_groups": counts["train_in_cross_split_groups"],
            "dropped_train": len(data.train) - len(used.train),
            "near_min_correlation": audit.near_rule["min_correlation"]}
    if counts["cross_split_exact"] or counts["cross_split_near"]:
        done = f"dropped {note['dropped_train']} train image(s)" if note["dropped_train"] else "training on them anyway"
        report(f"{task.name}: {counts['cross_split_exact']} exact and {counts['cross_split_near']} near copy group(s) "
               f"cross splits ({counts['train_in_cross_split_groups']} train image(s)); audit_policy "
               f"{task.audit_policy}: {done} (details: medbench data audit {task.name})")
    return used, note

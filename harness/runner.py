"""Run a grid of (task, init, backbone, seed) under one protocol and write one record per cell.

Data are loaded once per task and weights resolved once per (init, backbone); each seed builds a
fresh model. A user mistake (unknown name, bad weights) stops the grid with its message; a run
that breaks while training is recorded as `failed` with the error, so a sweep loses nothing.
Each cell is claimed before it runs (harness.claims), so workers sharing one results folder never
run a cell twice; under torchrun the ranks train one cell together and rank 0 writes its record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from harness import distributed
from harness.claims import claim_path, try_claim, waiting_claim
from harness.audit import apply_audit_policy
from harness.cpmid.screening import screening_fields
from harness.data import load_data
from harness.data.arrays import TaskData
from harness.data.checks import check_not_empty, split_size_warning
from harness.data.batches import BatchTransform, limit
from harness.data.prepare import PreparedSplit, prepare_split
from harness.efficiency import hardware_info
from harness.gridprogress import GridProgress
from harness.engine import SpeedOptions, seed_everything
from harness.errors import MedbenchError
from harness.inits import ResolvedWeights, resolve_init
from harness.metric_catalogue import HEADLINE
from harness.models import build_classifier, build_segmenter, check_backbone, load_backbone_weights, weights_target
from harness.protocols import Protocol
from harness.provenance import now_utc, software
from harness.regimes import Regime
from harness.regimes.modes import CellInputs
from harness.regimes.plan import TaskPlan, plan_task, plan_tasks
from harness.record import SCHEMA_VERSION, RunRecord, json_safe
from harness.results import load_record, slug, write_json_atomic
from harness.skips import skipped_work
from harness.submissions.contamination import submission_fields
from harness.tasks import TaskSpec

Report = Callable[[str], None]


def _silent(message: str) -> None:
    """The report of ranks other than 0 under torchrun: one voice per job."""


@dataclass(frozen=True)
class Cell:
    task: TaskSpec
    init: str
    backbone: str
    seed: int


def input_stats(weights: ResolvedWeights, model: torch.nn.Module, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The normalisation the weights were trained with (else timm's default for the model), fitted to the task's channels."""
    cfg = getattr(weights_target(model), "pretrained_cfg", {}) or {}
    mean = tuple(weights.mean or cfg.get("mean") or (0.5,) * 3)
    std = tuple(weights.std or cfg.get("std") or (0.5,) * 3)
    if len(mean) != channels:
        mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
    return mean, std


def build_model(task: TaskSpec, backbone: str, image_size: int, stem: str) -> torch.nn.Module:
    if task.kind.segmentation:
        if stem != "default":
            raise MedbenchError(f"--stem {stem} is for classifiers; {task.name} is a segmentation task")
        return build_segmenter(backbone, task.num_classes, task.channels, image_size)
    return build_classifier(backbone, task.num_classes, task.channels, image_size, stem=stem)


def _build_and_load(cell: Cell, protocol: Protocol, weights: ResolvedWeights, image_size: int) -> tuple[torch.nn.Module, dict[str, Any] | None]:
    model = build_model(cell.task, cell.backbone, image_size, protocol.stem)
    if weights.state_dict is None:
        return model, None
    return model, load_backbone_weights(model, weights.state_dict, backbone=cell.backbone).summary()


def run_cell(cell: Cell, protocol: Protocol, data: TaskData, weights: ResolvedWeights, device: torch.device,
             progress: bool = True, checkpoint: Path | None = None, artifact_dir: Path | None = None,
             speed: SpeedOptions = SpeedOptions(), plan: TaskPlan | None = None) -> RunRecord:
    """One seeded run → a complete record (not yet written); CAM images and predictions go to `artifact_dir`.

    `plan` says how the init is evaluated (mode, label budget, size); default: fine-tuned on every label."""
    started = now_utc()
    plan = plan or plan_task(cell.task, protocol)
    image_size = protocol.image_size or cell.task.image_size
    seed_everything(cell.seed, deterministic=not speed.fast)
    model, load_report = _build_and_load(cell, protocol, weights, image_size)
    mean, std = input_stats(weights, model, cell.task.channels)
    train, budget = plan.train_set(limit(data.train, protocol.train_limit), cell.seed)
    sets = {"train": train, "val": limit(data.val, protocol.eval_limit), "test": limit(data.test, protocol.eval_limit)}
    splits = {name: prepare_split(ds, image_size, cell.task.kind, device) for name, ds in sets.items()}
    identity = {"backbone": cell.backbone, "stem": protocol.stem, "image_size": image_size, "mean": mean, "std": std}
    result = plan.mode.run(CellInputs(cell.task, cell.seed, protocol, plan.regime, model,
                                      BatchTransform(mean, std, protocol.augmentation, device), splits, device, identity,
                                      progress, checkpoint, artifact_dir, speed))
    outcome, artifacts = result.outcome, result.artifacts
    return RunRecord.from_dict(json_safe({
        "schema_version": SCHEMA_VERSION,
        "task": cell.task.name, "init": cell.init, "backbone": cell.backbone, "protocol": protocol.name, "seed": cell.seed,
        **plan.record_fields({"budget": budget, **result.details}),  # mode, label_budget, image_size, regime
        "status": outcome.status, "error": outcome.error,
        "metrics": outcome.metrics, "metrics_last_epoch": outcome.metrics_last_epoch, "val_metrics": outcome.val_metrics,
        "efficiency": outcome.efficiency, "history": outcome.history, "artifacts": artifacts,
        "model": {"backbone": cell.backbone, "stem": protocol.stem, "num_classes": cell.task.num_classes,
                  "in_chans": cell.task.channels, "image_size": image_size, "mean": mean, "std": std,
                  "load_report": load_report},
        "provenance": {
            **software(),
            "device": str(device), "hardware": hardware_info(device), "deterministic": not speed.fast,
            "speed_options": dataclasses.asdict(speed.resolved(device)), "distributed": distributed.describe(device),
            "data_sha256": data.sha256, "data_path": data_path(data, splits), "weights_sha256": weights.sha256, "init_provenance": weights.provenance,
            "task_card": cell.task.to_dict(), "protocol_config": protocol.to_dict(),
            "command": sys.argv, "started_at": started, "finished_at": now_utc(),
            "skipped_work": list(skipped_work()),  # empty in real runs; see harness.skips
        },
        **submission_fields(weights.provenance, cell.task),  # submission id, weights sha256, contamination flag
    }), "the record of this run")


def data_path(data: TaskData, splits: dict[str, PreparedSplit]) -> dict[str, Any]:
    """Where the run's pixels were read from and where its batches came from (harness.data.placement)."""
    return {"loaded_into": "pixel store" if data.stored else "memory",
            "batches": {name: split.placement for name, split in splits.items()}}


def is_finished(path: Path) -> bool:
    """A record that exists and did not fail is not run again; a failed one is retried."""
    if not path.is_file():
        return False
    try:
        return load_record(path).status in ("ok", "diverged")
    except MedbenchError:
        return False


def checkpoint_path(out: Path, record: Path) -> Path:
    """Epoch checkpoints sit beside the results, out of the way of `medbench results`."""
    return out / ".checkpoints" / record.relative_to(out).with_suffix(".pt")


@contextlib.contextmanager
def claim_cell(out: Path, record: Path) -> Iterator[bool]:
    """Whether this worker runs the cell: rank 0 claims it (unless another worker holds it or has finished it
    since the grid was listed), tells the other ranks, and releases the claim when the block ends."""
    claim = try_claim(claim_path(out, record)) if distributed.is_main() else None
    if claim is not None and is_finished(record):
        claim.release()
        claim = None
    try:
        yield distributed.from_main(claim is not None)
    finally:
        if claim is not None:
            claim.release()


def resolve_weights(out: Path, init: str, backbone: str, protocol: str) -> ResolvedWeights:
    """Resolved while holding a claim in `out`, so workers needing the same release (e.g. `cpmid`, which
    pretrains when absent) wait for the first one instead of building it side by side."""
    with waiting_claim(out / ".claims" / ".weights" / f"{slug(init)}__{slug(backbone)}__{protocol}.claim"):
        return resolve_init(init, backbone, protocol)


def _say_screening(report: Report, task: str, init: str, fields: dict[str, Any]) -> None:
    screening = fields.get("cpmid_screening")
    if screening is None:
        return
    if not screening.get("screened"):
        report(f"{task} {init}: val/test images NOT screened against its CPMID build: {screening.get('why')}")
    elif screening["when"] == "run start":
        flagged = "; its records are flagged contaminated" if screening["copies"] else ""
        report(f"{task} {init}: screened at run start against CPMID {screening['build']}: "
               f"{screening['copies']} of {screening['images_checked']} val/test images have a copy in it{flagged}")


def run_grid(tasks: list[TaskSpec], inits: list[str], backbones: list[str], protocol: Protocol, seeds: tuple[int, ...],
             out: Path, data_dir: Path | None, device: torch.device, report: Report = print, progress: bool = True,
             speed: SpeedOptions = SpeedOptions(), regime: Regime = Regime()) -> list[Path]:
    """Run every cell without a finished record; weights are resolved once, only for pairs still needed.

    Under torchrun every rank calls this; rank 0 claims cells, reports and writes records."""
    device = distributed.start(device)
    report = report if distributed.is_main() else _silent
    for backbone in backbones:
        check_backbone(backbone)
    plans = plan_tasks(tasks, protocol, regime, data_dir, report)  # tasks the mode cannot score are skipped
    tasks = [task for task in tasks if task.name in plans]
    pending = {task.name: [(init, backbone, seed) for init in inits for backbone in backbones for seed in seeds
                           if not is_finished(plans[task.name].record_path(out, init, backbone, seed))]
               for task in tasks}
    pending = distributed.from_main(pending)  # ranks agree even if a worker finishes a cell while they look
    needed = {(init, backbone) for cells in pending.values() for init, backbone, _ in cells}
    with distributed.main_first():
        weights = {pair: resolve_weights(out, *pair, protocol.name) for pair in sorted(needed)}
    written = []
    grid = GridProgress(total=sum(map(len, pending.values())))
    for task in tasks:
        if not pending[task.name]:
            report(f"{task.name}: every record is already in {out}; nothing to run")
            continue
        plan = plans[task.name]
        with distributed.main_first():  # rank 0 downloads or generates, the others read its files
            data = load_data(plan.data_task, data_dir)
            data, data_audit = apply_audit_policy(plan.data_task, data, data_dir, report)  # the card's audit_policy
        check_not_empty(plan.data_task, data)
        sizes_differ = split_size_warning(plan.data_task, data)
        if sizes_differ:
            report(sizes_differ)
        screens: dict[str, dict[str, Any]] = {}  # init → its CPMID build screened against this task, once per task
        for init, backbone, seed in pending[task.name]:
            path = plan.record_path(out, init, backbone, seed)
            with claim_cell(out, path) as claimed:
                if not claimed:
                    report(f"{task.name} {init} {backbone} seed={seed}: another worker has it or finished it; skipped")
                    grid.finished()
                    continue
                checkpoint = checkpoint_path(out, path)
                resuming = " — resuming from its checkpoint" if checkpoint.is_file() else ""
                report(grid.starting(f"{task.name} {init} {backbone} seed={seed}{resuming}"))
                record = run_cell(Cell(task, init, backbone, seed), plan.protocol, data, weights[(init, backbone)],
                                  device, progress, checkpoint, artifact_dir=path.with_suffix(""), speed=speed,
                                  plan=plan)
                if init not in screens:
                    screens[init] = screening_fields(weights[(init, backbone)].provenance, plan.data_task.name, data)
                    _say_screening(report, task.name, init, screens[init])
                record = dataclasses.replace(record, data_audit=data_audit, **screens[init])
                if distributed.is_main():
                    write_json_atomic(path, record.to_dict())
                    checkpoint.unlink(missing_ok=True)
            written.append(path)
            grid.finished()
            headline = {k: record.metrics.get(k) for k in HEADLINE}
            shown = " ".join(f"{k}={v:.3f}" for k, v in headline.items() if isinstance(v, float))
            variant = f" [{plan.regime.tag}]" if plan.regime.tag else ""
            report(f"{task.name}{variant} {init} {backbone} seed={seed}: {record.status} {shown} → {path}")
    distributed.barrier()  # no rank leaves the job while rank 0 is still writing
    return written

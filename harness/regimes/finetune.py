"""`finetune`, the default mode: end-to-end training by the engine, then Grad-CAMs and per-image test
predictions of the selected model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness import distributed
from harness.cam import class_activation_maps, gallery_indices, localisation_scores, save_overlay
from harness.data.prepare import PreparedSplit
from harness.diskerrors import disk_error
from harness.engine import Outcome, TrainingRun
from harness.kinds import KINDS
from harness.objectives import objective_for
from harness.regimes.modes import MODES, CellInputs, Mode, ModeResult
from harness.results import write_test_predictions
from harness.skips import SKIP_ENV, skips
from harness.tasks import TaskSpec

CAM_SCORE_LIMIT = 256  # test images explained per classification run


def explain(run: TrainingRun, task: TaskSpec, test: PreparedSplit, cam_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Grad-CAMs of the selected model on test images: localisation scores (where lesion masks exist) and PNGs."""
    if task.kind.multilabel:
        return {}, {"cam_skipped": "multilabel tasks have no single target class to explain"}
    if skips("cams"):
        return {}, {"cam_skipped": f"{SKIP_ENV} turned Grad-CAMs off (a test that does not check them)"}
    count = min(len(test), CAM_SCORE_LIMIT)
    batch = test.rows(0, count)
    images, _ = run.transform(batch.images)
    cams, method = class_activation_maps(run.model, images, batch.targets)
    metrics = localisation_scores(cams, batch.masks) if batch.masks is not None else {}
    masks = None if batch.masks is None else batch.masks.cpu().numpy()
    pictures = batch.images.permute(0, 2, 3, 1).cpu().numpy()
    paths = []
    for index in gallery_indices(masks, count):
        path = cam_dir / f"test-{index:05d}.png"
        save_overlay(path, pictures[index], cams[index].numpy(), None if masks is None else masks[index])
        paths.append(path)
    # cam_dir is <record folder>/<record name>/cams: paths are stored relative to the record's folder
    return metrics, {"cam_method": method, "cam_pngs": [str(p.relative_to(cam_dir.parent.parent)) for p in paths]}


@torch.no_grad()
def save_predictions(run: TrainingRun, task: TaskSpec, test: PreparedSplit, path: Path) -> None:
    """Per-image test probabilities of the selected model, for paired bootstraps between init sources."""
    run.model.eval()
    probs = []
    for images, _, _ in test.eval_batches(run.protocol.eval_batch_size):
        x, _ = run.transform(images)
        with run.autocast:
            logits = run.model(x).float()
        probs.append(run.objective.probabilities(logits).cpu().numpy())
    write_test_predictions(path, test.targets.cpu().numpy(), np.concatenate(probs))


def finetune(inputs: CellInputs) -> ModeResult:
    """End-to-end fine-tuning: fit, select on validation, then CAMs and test predictions."""
    task, splits, artifact_dir = inputs.task, inputs.splits, inputs.artifact_dir
    run = TrainingRun(inputs.model, objective_for(task.kind, task.num_classes, inputs.protocol), inputs.protocol,
                      inputs.seed, inputs.transform, inputs.device, inputs.speed)
    try:
        outcome = run.fit(splits["train"], splits["val"], splits["test"], progress=inputs.progress,
                          checkpoint=inputs.checkpoint)
    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:
        problem = disk_error(exc, inputs.checkpoint)
        if problem is not None:  # every later run would fail the same way: stop with the disk named
            raise problem from None
        if distributed.world_size() > 1:  # the other ranks would wait for this one forever: let torchrun stop them all
            raise
        outcome = Outcome(status="failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    artifacts: dict[str, Any] = {}
    if outcome.status == "ok" and artifact_dir is not None and not task.kind.segmentation and distributed.is_main():
        cam_metrics, artifacts = explain(run, task, splits["test"], artifact_dir / "cams")
        outcome.metrics.update(cam_metrics)
        save_predictions(run, task, splits["test"], artifact_dir / "test_predictions.npz")
        artifacts["test_predictions"] = str((artifact_dir / "test_predictions.npz").relative_to(artifact_dir.parent))
    return ModeResult(outcome, artifacts)


MODES.add("finetune", Mode(finetune, KINDS, "end-to-end fine-tuning of the whole network"))

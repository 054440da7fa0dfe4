"""Segmentation runs for CNN and ViT backbones, and class activation maps that are measured."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.cam import class_activation_maps, localisation_scores
from harness.data import load_data
from harness.data.batches import BatchTransform, limit
from harness.data.prepare import prepare_split
from harness.inits import resolve_init
from harness.metrics import SegmentationEvaluator
from harness.models import build_classifier
from harness.protocols import PROTOCOLS
from harness.runner import Cell, run_cell
from harness.skips import SKIP_ENV
from harness.tasks import get_task
from tests.conftest import invoke, read_records, run_cli

CPU = torch.device("cpu")
KVASIR_SIZE = 64


@pytest.mark.parametrize("backbone", ["resnet18", "vit_tiny_patch16_224"])
def test_segmentation_smoke_runs_record_iou_and_dice(backbone: str, tmp_path: Path):
    invoke("run", "--init", "scratch", "--backbone", backbone, "--protocol", "smoke", "--tasks", "synth-xray-seg",
           "--quiet", "--out", str(tmp_path))
    (record,) = read_records(tmp_path)
    metrics = record["metrics"]
    assert record["status"] == "ok" and 0 <= metrics["iou"] <= 1 and 0 <= metrics["dice"] <= 1
    assert {"iou_per_image_mean", "dice_per_image_mean", "iou_definition"} <= set(metrics)
    assert "val_iou" in record["history"][0]


def test_classification_runs_write_cam_pngs_and_scores(smoke_results: Path):
    tmp_path = smoke_results  # its seed 0 ran in full, as a user's run does
    record = json.loads((tmp_path / "synth-xray-cls" / "scratch__resnet18__smoke__seed0.json").read_text())
    pngs = record["artifacts"]["cam_pngs"]
    assert len(pngs) == 8 and "Grad-CAM" in record["artifacts"]["cam_method"]
    for relative in pngs:
        with Image.open(tmp_path / "synth-xray-cls" / relative) as image:
            assert image.size[0] > image.size[1] > 100
    predictions = np.load(tmp_path / "synth-xray-cls" / record["artifacts"]["test_predictions"])
    assert predictions["probs"].shape == (len(predictions["targets"]), 3)
    assert np.allclose(predictions["probs"].sum(axis=1), 1, atol=1e-4)
    assert (predictions["probs"].argmax(1) == predictions["targets"]).mean() == pytest.approx(record["metrics"]["accuracy"])
    assert 0 <= record["metrics"]["cam_energy_in_mask"] <= 1 and 0 <= record["metrics"]["cam_pointing_game"] <= 1


def test_localisation_scores_on_known_maps():
    masks = torch.zeros(2, 20, 20, dtype=torch.uint8)
    masks[:, 5:10, 5:10] = 1
    on_lesion = torch.zeros(2, 20, 20)
    on_lesion[:, 6:9, 6:9] = 1.0
    elsewhere = torch.zeros(2, 20, 20)
    elsewhere[:, 15:19, 15:19] = 1.0
    assert localisation_scores(on_lesion, masks)["cam_energy_in_mask"] == pytest.approx(1.0)
    assert localisation_scores(on_lesion, masks)["cam_pointing_game"] == 1.0
    assert localisation_scores(elsewhere, masks)["cam_energy_in_mask"] == 0.0
    assert localisation_scores(elsewhere, masks)["cam_pointing_game"] == 0.0
    assert localisation_scores(on_lesion, torch.zeros_like(masks)) == {}


@pytest.mark.slow
def test_a_trained_model_localises_lesions_better_than_an_untrained_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(SKIP_ENV, "inference-timing,data-audit")  # Grad-CAMs drawn; inference timed once
    task = get_task("synth-histo-cls")  # the family whose lesions carry the class signal most plainly
    data = load_data(task)
    # 3 epochs on 300 images: CAM energy in the lesion 0.281 vs 0.214 untrained, pointing game 0.58 vs 0.37 (2 cores)
    protocol = PROTOCOLS.get("quick").with_overrides(epochs=3, train_limit=300, eval_limit=100, seeds=(0,))
    record = run_cell(Cell(task, "scratch", "resnet18", 0), protocol, data, resolve_init("scratch", "resnet18"), CPU,
                      progress=False, artifact_dir=tmp_path)
    assert record.status == "ok"

    torch.manual_seed(0)
    untrained = build_classifier("resnet18", task.num_classes, task.channels, task.image_size)
    test = prepare_split(limit(data.test, protocol.eval_limit), task.image_size, task.kind, CPU)  # the run's test images
    images, _ = BatchTransform(tuple(record.model["mean"]), tuple(record.model["std"]), "none", CPU)(test.images)
    cams, _ = class_activation_maps(untrained, images, test.targets)
    baseline = localisation_scores(cams, test.masks)

    trained = record.metrics
    assert trained["cam_energy_in_mask"] > baseline["cam_energy_in_mask"]
    assert trained["cam_pointing_game"] > baseline["cam_pointing_game"]


def all_foreground_metrics(targets: np.ndarray) -> dict:
    """IoU/Dice of the trivial predictor that calls every pixel lesion, by the harness's own evaluator."""
    evaluator = SegmentationEvaluator(2)
    masks = torch.from_numpy(targets).long()
    logits = torch.zeros(len(masks), 2, *masks.shape[1:])
    logits[:, 1] = 1.0
    evaluator.update(logits, masks)
    return evaluator.compute()


@pytest.mark.slow
def test_quick_protocol_on_real_kvasir_beats_the_all_foreground_predictor(shared_data: Path, tmp_path: Path):
    """200 real Kvasir-SEG pairs, laid out as the card expects; quick protocol at 64 px to stay CPU-sized."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "Kvasir-SEG").symlink_to(shared_data / "kvasir_seg_200")
    run_cli("run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "quick", "--image-size", str(KVASIR_SIZE),
            "--tasks", "kvasir-seg", "--seeds", "0", "--data-dir", str(data_dir), "--out", str(tmp_path / "out"), "--quiet")
    (record,) = read_records(tmp_path / "out")
    val = prepare_split(load_data(get_task("kvasir-seg"), data_dir).val, KVASIR_SIZE, "segmentation", CPU)
    trivial = all_foreground_metrics(val.targets.numpy())
    assert record["status"] == "ok"
    assert record["val_metrics"]["iou"] > trivial["iou"] + 0.05, (record["val_metrics"]["iou"], trivial["iou"])

"""Shortcut audit: header-only file properties scored as one-feature classifiers against chance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from harness.audit.shortcuts import PROPERTIES, file_properties, shortcuts
from tests.conftest import invoke

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_jpeg_quality_is_read_from_the_quantisation_table(tmp_path: Path, quality: int):
    path = tmp_path / "a.jpg"
    Image.fromarray(RNG.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path, quality=quality)
    assert file_properties(path) == {"channel_mode": "RGB", "image_size": "24x24", "file_format": "JPEG",
                                     "jpeg_quality": str(quality)}


def test_header_properties_of_png_gray_and_an_unreadable_file(tmp_path: Path):
    Image.fromarray(RNG.integers(0, 255, (10, 30), dtype=np.uint8)).save(tmp_path / "g.png")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    assert file_properties(tmp_path / "g.png") == {"channel_mode": "L", "image_size": "30x10", "file_format": "PNG",
                                                   "jpeg_quality": "n/a"}
    assert set(file_properties(tmp_path / "bad.jpg").values()) == {"unreadable"}


def _props(mode: list[str]) -> list[dict[str, str]]:
    return [{"channel_mode": m, "image_size": "8x8", "file_format": "JPEG", "jpeg_quality": "75"} for m in mode]


def test_a_property_that_tracks_the_label_is_a_warning_and_constant_ones_are_chance():
    labels = [0] * 60 + [1] * 60
    mode = ["L"] * 50 + ["RGB"] * 10 + ["RGB"] * 55 + ["L"] * 5  # mostly gray for class 0
    found = {s.prop: s for s in shortcuts(_props(mode), labels, ["a", "b"], [str(i) for i in range(120)])}
    assert set(found) == set(PROPERTIES)
    assert found["channel_mode"].balanced_accuracy == pytest.approx((50 / 60 + 55 / 60) / 2, abs=0.05)
    assert found["channel_mode"].warning and found["channel_mode"].p_value < 0.01
    assert found["channel_mode"].values == {"L": {"a": 50, "b": 5}, "RGB": {"a": 10, "b": 55}}
    for prop in ("image_size", "file_format", "jpeg_quality"):
        assert found[prop].balanced_accuracy == pytest.approx(0.5) and not found[prop].warning


def test_a_property_unrelated_to_the_label_is_not_a_warning():
    labels = RNG.integers(0, 3, 300)
    mode = list(RNG.choice(["L", "RGB"], 300))
    channel = next(s for s in shortcuts(_props(mode), labels, ["a", "b", "c"], [str(i) for i in range(300)])
                   if s.prop == "channel_mode")
    assert not channel.warning and channel.chance == pytest.approx(1 / 3)


def test_groups_are_scored_out_of_fold_so_an_id_like_property_does_not_vouch_for_itself():
    """A property unique to each group (like a patient's scanner id) predicts nothing out of fold."""
    labels = np.repeat(RNG.integers(0, 2, 40), 3)
    groups = [f"g{i // 3}" for i in range(120)]
    found = shortcuts(_props(groups), labels, ["a", "b"], groups)
    channel = next(s for s in found if s.prop == "channel_mode")
    assert channel.balanced_accuracy < 0.75 and not channel.warning


def test_the_audit_command_reports_a_channel_mode_shortcut_of_a_folder_card(tmp_path: Path):
    """A folder whose classes were saved differently (gray PNG vs RGB JPEG), like the brain MRI release."""
    for i in range(16):
        smooth = np.asarray(Image.fromarray(RNG.integers(0, 255, (4, 4), dtype=np.uint8)).resize((32, 32)))
        (tmp_path / "scans" / "tumour").mkdir(parents=True, exist_ok=True)
        (tmp_path / "scans" / "normal").mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth).save(tmp_path / "scans" / "tumour" / f"t{i}.png")
        Image.fromarray(np.stack([smooth] * 3, -1)).save(tmp_path / "scans" / "normal" / f"n{i}.jpg", quality=90)
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "scans.yaml").write_text(yaml.safe_dump({
        "name": "scans-demo", "kind": "binary", "description": "two classes saved differently",
        "source": {"loader": "image_folders", "args": {"root": "scans", "classes": ["normal", "tumour"],
                                                       "split": {"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}}}},
        "label_names": ["normal", "tumour"], "channels": 1, "image_size": 16, "splits": {"train": 16, "val": 8, "test": 8},
        "metrics": ["accuracy"], "license": "CC0", "citation": "none"}))
    env = {"MEDBENCH_TASK_DIRS": str(tmp_path / "cards"), "MEDBENCH_HOME": str(tmp_path / "home")}
    report = json.loads(invoke("data", "audit", "scans-demo", "--data-dir", str(tmp_path), "--json", env=env).stdout)
    found = {s["property"]: s for s in report["shortcuts"]}
    assert found["channel_mode"]["warning"] and found["file_format"]["warning"]
    assert found["file_format"]["values"] == {"JPEG": {"normal": 16}, "PNG": {"tumour": 16}}
    assert found["image_size"]["balanced_accuracy"] == pytest.approx(0.5) and not found["image_size"]["warning"]
    assert "data_sha256" in report and "n_images" in report  # the copy audit's fields stay beside it
    text = invoke("data", "audit", "scans-demo", "--data-dir", str(tmp_path), env=env).stdout
    assert "channel_mode: 1.000 vs chance 0.500" in text and "WARNING: predicts the label" in text

"""The six real folder datasets of ../shared/data as task cards: they list, split, load and audit."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.audit.shortcuts import task_shortcuts
from harness.data.folders import folder_files
from harness.tasks import get_task
from tests.conftest import invoke

REAL_CARDS = ("brain-tumor-mri", "pbc-blood-cells", "kermany-cxr", "ham10000", "lc25000-lung", "busi-cls")


@pytest.mark.parametrize("name", REAL_CARDS)
def test_each_card_states_its_licence_citation_channels_and_size(name: str):
    spec = get_task(name)
    assert spec.card_path.endswith(f"tasks/real/{name}.yaml") and "real" in spec.tags
    assert spec.license and spec.citation and spec.homepage.startswith("https://")
    assert "channel policy" in spec.description.lower() and "size_note" in spec.description
    assert spec.image_size == 64 and spec.kind in ("binary", "multiclass")


@pytest.mark.parametrize("name", REAL_CARDS)
def test_each_card_lists_its_files_into_the_declared_split_sizes(name: str, shared_data: Path):
    spec = get_task(name)
    files = folder_files(spec, shared_data)
    assert Counter(split for _, split in files) == Counter(spec.splits)
    labels = Counter(item.label for item, _ in files)
    assert sorted(labels) == list(range(spec.num_classes))  # every class has files
    where: dict[str, set[str]] = {}
    for item, split in files:
        where.setdefault(item.group or item.key, set()).add(split)
    assert all(len(s) == 1 for s in where.values())  # groups (lesions, copy clusters) stay in one split


def test_kermany_keeps_the_release_test_split(shared_data: Path):
    files = folder_files(get_task("kermany-cxr"), shared_data)
    assert {item.key.split("/")[0] for item, split in files if split == "test"} == {"test"}
    assert {item.key.split("/")[0] for item, split in files if split == "val"} == {"train"}
    assert Counter(item.label for item, split in files if split == "test") == {0: 234, 1: 390}


def test_ham10000_groups_are_the_lesion_ids(shared_data: Path):
    files = folder_files(get_task("ham10000"), shared_data)
    assert all(item.group.startswith("HAM_") for item, _ in files)


@pytest.mark.slow
def test_busi_loads_at_64_px_gray_and_its_audit_reports_copies_and_shortcuts(shared_data: Path, tmp_path: Path):
    spec = get_task("busi-cls")
    data = spec.load(shared_data)
    assert data.train.images.shape[1:] == (64, 64, 1) and data.train.images.dtype == np.uint8
    result = invoke("data", "audit", "busi-cls", "--data-dir", str(shared_data), "--json",
                    env={"MEDBENCH_HOME": str(tmp_path)})
    report = json.loads(result.stdout)
    assert report["n_images"] == spec.splits and "cross_split_near" in report and "exact_groups" in report
    by_prop = {s["property"]: s for s in report["shortcuts"]}
    assert by_prop["file_format"]["values"] == {"PNG": {"benign": 436, "malignant": 209, "normal": 133}}
    assert not any(s["warning"] for s in report["shortcuts"])


@pytest.mark.slow
def test_brain_mri_channel_mode_is_a_shortcut_warning(shared_data: Path):
    found = {s.prop: s for s in task_shortcuts(get_task("brain-tumor-mri"), shared_data)}
    mode = found["channel_mode"]
    assert mode.warning and mode.balanced_accuracy > 0.45 and mode.chance == pytest.approx(0.25)
    assert mode.values["L"]["glioma"] > 10 * mode.values["L"]["notumor"]
    assert not found["image_size"].warning

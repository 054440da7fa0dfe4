"""The six real folder datasets of ../shared/data as task cards: they list, split, load and audit."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.audit.shortcuts import task_shortcuts
from harness.data import data_files, item_splits, load_data
from harness.tasks import SourceSpec, TaskSpec, get_task
from tests.conftest import invoke

REAL_CARDS = ("brain-tumor-mri", "pbc-blood-cells", "kermany-cxr", "ham10000", "lc25000-lung", "busi-cls")


@pytest.mark.parametrize("name", REAL_CARDS)
def test_each_card_states_its_licence_citation_channels_and_size(name: str):
    spec = get_task(name)
    assert spec.card_path.endswith(f"tasks/real/{name}.yaml") and "real" in spec.tags
    assert spec.license and spec.citation and spec.homepage.startswith("https://")
    assert "channel policy" in spec.description.lower() and "size_note" in spec.description
    assert spec.image_size == 64 and spec.kind in ("binary", "multiclass")


def _without_copy_clusters(spec: TaskSpec) -> TaskSpec:
    """The card with `copies: together` dropped: listing then needs no clustering (minutes on 2 cores)."""
    args = {k: v for k, v in spec.source.args.items() if k != "copies"}
    return replace(spec, source=replace(spec.source, args=args))


@pytest.mark.parametrize("name", [n for n in REAL_CARDS if n != "lc25000-lung"])
def test_each_card_lists_its_files_into_the_declared_split_sizes(name: str, shared_data: Path):
    spec = get_task(name)
    files = data_files(spec, shared_data)
    assert Counter(split for _, split in files) == Counter(spec.splits)
    labels = Counter(item.label for item, _ in files)
    assert sorted(labels) == list(range(spec.num_classes))  # every class has files
    where: dict[str, set[str]] = {}
    for item, split in files:
        where.setdefault(item.group or item.key, set()).add(split)
    assert all(len(s) == 1 for s in where.values())  # groups (lesions, copy clusters) stay in one split


def test_lc25000_keeps_copies_together_and_lists_all_its_files(shared_data: Path):
    spec = get_task("lc25000-lung")
    assert spec.source.args["copies"] == "together"
    files = data_files(_without_copy_clusters(spec), shared_data)
    assert len(files) == sum(spec.splits.values()) == 2100
    assert Counter(item.label for item, _ in files) == {0: 700, 1: 700, 2: 700}


@pytest.mark.slow
def test_copies_together_groups_rotated_and_mirrored_real_histology_tiles(shared_data: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    """Real LC25000 tiles with the release's own augmentations (90° rotations, flips) planted beside them."""
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "home"))
    source = sorted((shared_data / "lc25000_lung" / "lung_image_sets" / "lung_aca").glob("*.jpeg"))[:24]
    for name in ("lung_aca", "lung_n", "lung_scc"):
        (tmp_path / "lc" / name).mkdir(parents=True)
    folder = tmp_path / "lc" / "lung_aca"
    for i, path in enumerate(source):
        tile = Image.open(path).convert("RGB")
        tile.save(folder / path.name)
        if i < 6:
            tile.transpose(Image.Transpose.ROTATE_90).save(folder / f"{path.stem}_r90.jpeg")
            tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / f"{path.stem}_flip.jpeg")
    spec = replace(get_task("lc25000-lung"), source=SourceSpec("image_folders", {
        "root": "lc", "classes": ["lung_aca", "lung_n", "lung_scc"], "copies": "together",
        "split": {"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}, "seed": 0}}))
    rows = {key: (group, split) for key, group, split in item_splits(spec, tmp_path)}
    for path in source[:6]:
        family = [f"lung_aca/{path.stem}{suffix}" for suffix in ("", "_r90", "_flip")]
        assert len({rows[k] for k in family}) == 1, family  # one group, one split


def test_kermany_keeps_the_release_test_split(shared_data: Path):
    files = data_files(get_task("kermany-cxr"), shared_data)
    assert {item.key.split("/")[0] for item, split in files if split == "test"} == {"test"}
    assert {item.key.split("/")[0] for item, split in files if split == "val"} == {"train"}
    assert Counter(item.label for item, split in files if split == "test") == {0: 234, 1: 390}


def test_ham10000_groups_are_the_lesion_ids(shared_data: Path):
    files = data_files(get_task("ham10000"), shared_data)
    assert all(item.group.startswith("HAM_") for item, _ in files)


@pytest.mark.slow
def test_busi_loads_at_64_px_gray_and_its_audit_reports_copies_and_shortcuts(shared_data: Path, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))  # decoded once here, read from this cache by the audit
    spec = get_task("busi-cls")
    data = load_data(spec, shared_data)
    assert data.train.images.shape[1:] == (64, 64, 1) and data.train.images.dtype == np.uint8
    result = invoke("data", "audit", "busi-cls", "--data-dir", str(shared_data), "--json")
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

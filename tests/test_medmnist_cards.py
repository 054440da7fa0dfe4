"""The MedMNIST+ task cards, the standard downstream suite, and real MedMNIST files through the CLI."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.cpmid.recipe import load_recipe
from harness.metric_catalogue import CATALOGUE
from harness.tasks import REPO_TASK_DIR, get_task, tasks
from tests.conftest import assert_one_line_error, read_records, invoke

REPO = REPO_TASK_DIR.parent
FLAGS = ("pathmnist", "chestmnist", "dermamnist", "octmnist", "pneumoniamnist", "retinamnist", "breastmnist",
         "bloodmnist", "tissuemnist", "organamnist", "organcmnist", "organsmnist")
SIZES = (28, 64, 128, 224)
SMOKE = ["run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "smoke", "--quiet"]


def _generator():
    spec = importlib.util.spec_from_file_location("generate_cards", REPO_TASK_DIR / "medmnist" / "generate_cards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_cards_are_what_the_generator_writes():
    assert _generator().main(["--check"]) == 0


def test_every_2d_set_is_registered_at_every_size_with_its_published_file():
    for flag in FLAGS:
        for size in SIZES:
            name = flag if size == 28 else f"{flag}_{size}"
            spec = get_task(name)
            assert spec.image_size == size and spec.source.args == {"file": f"{name}.npz"}
            assert spec.url == f"https://zenodo.org/records/10519652/files/{name}.npz?download=1"
            assert len(spec.md5) == 32 and spec.license and spec.citation.startswith("Yang J. et al.")
    md5s = [get_task(n).md5 for n in tasks().names() if "medmnist" in get_task(n).tags]
    assert len(md5s) == len(set(md5s)) == 48


@pytest.mark.parametrize("name, kind, channels, labels, splits, md5", [  # spot checks against medmnist 3.0.2 info.py
    ("breastmnist", "binary", 1, 2, (546, 78, 156), "750601b1f35ba3300ea97c75c52ff8f6"),
    ("breastmnist_224", "binary", 1, 2, (546, 78, 156), "b56378a6eefa9fed602bb16d192d4c8b"),
    ("chestmnist_64", "multilabel", 1, 14, (78468, 11219, 22433), "9de6cd0b934ebb5b7426cfba5efbae16"),
    ("retinamnist_224", "multiclass", 3, 5, (1080, 120, 400), "eae7e3b6f3fcbda4ae613ebdcbe35348"),
    ("organamnist", "multiclass", 1, 11, (34561, 6491, 17778), "68e3f8846a6bd62f0c9bf841c0d9eacc"),
    ("pathmnist_128", "multiclass", 3, 9, (89996, 10004, 7180), "ac42d08fb904d92c244187169d1fd1d9"),
])
def test_transcribed_metadata(name, kind, channels, labels, splits, md5):
    spec = get_task(name)
    assert (spec.kind, spec.channels, spec.num_classes, md5) == (kind, channels, labels, spec.md5)
    assert tuple(spec.splits.values()) == splits


def test_standard_suite_is_declared_once_and_kept_out_of_cpmid():
    suite = yaml.safe_load((REPO / "leaderboards" / "standard.yaml").read_text())
    assert set(suite) == {"title", "description", "tasks", "metrics", "protocol", "inits", "baseline", "why"}
    specs = [get_task(name) for name in suite["tasks"]]
    assert [s.kind for s in specs].count("segmentation") == 2 and len(specs) == 5
    assert len({s.modality for s in specs}) == 5 and set(suite["why"]) == set(suite["tasks"])
    assert all(metric["higher_is_better"] == CATALOGUE[metric["name"]].higher_is_better for metric in suite["metrics"])
    excluded = set(load_recipe("cpmid-medmnist").exclude_tasks)
    for spec in specs:
        family = spec.name.split("_")[0]
        assert {n for n in tasks().names() if n == family or n.startswith(f"{family}_")} <= excluded


def test_segmentation_cards_declare_layout_license_and_metrics():
    for name in ("kvasir-seg", "isic2018-seg", "busi-seg"):
        spec = get_task(name)
        assert spec.kind == "segmentation" and spec.label_names == ("background", "lesion")
        assert spec.metrics == ("iou", "dice") and spec.source.loader == "image_mask_folders"
        assert spec.license and spec.citation and spec.homepage


def test_tasks_list_shows_status_and_where(shared_data: Path):
    listing = invoke("tasks", "list", "--data-dir", str(shared_data / "medmnist")).stdout
    rows = {line.split()[0]: line for line in listing.splitlines()[2:]}
    assert {f"{f}_{s}" for f in FLAGS for s in SIZES[1:]} | set(FLAGS) | {"kvasir-seg", "isic2018-seg", "busi-seg"} <= set(rows)
    assert "present" in rows["breastmnist"] and str(shared_data / "medmnist" / "breastmnist.npz") in rows["breastmnist"]
    assert "downloadable" in rows["breastmnist_224"] and "missing" in rows["kvasir-seg"]
    assert "generated" in rows["synth-xray-cls"]


def test_missing_file_names_both_places_and_the_fetch_command(tmp_path: Path, isolated_home: Path):
    proc = invoke(*SMOKE, "--tasks", "retinamnist_224", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"),
                   check=False)
    assert_one_line_error(proc, str(tmp_path / "retinamnist_224.npz"), str(isolated_home / "data" / "retinamnist_224.npz"),
                          "medbench data fetch retinamnist_224")


@pytest.mark.slow
def test_smoke_runs_on_the_real_breastmnist_and_pneumoniamnist_files(shared_data: Path, tmp_path: Path):
    data = tmp_path / "D"
    data.mkdir()
    for name in ("breastmnist", "pneumoniamnist"):
        shutil.copy(shared_data / "medmnist" / f"{name}.npz", data)
    invoke(*SMOKE, "--tasks", "breastmnist,pneumoniamnist", "--data-dir", str(data), "--out", str(tmp_path / "out"))
    records = read_records(tmp_path / "out")
    assert sorted(r["task"] for r in records) == ["breastmnist", "pneumoniamnist"]
    assert all(r["status"] == "ok" for r in records)


def _arrays(n: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {f"{s}_{k}": rng.integers(0, 2, (n, 1)) if k == "labels" else rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
            for s in ("train", "val", "test") for k in ("images", "labels")}


def _truncated(folder: Path, shared_data: Path) -> None:
    blob = (shared_data / "medmnist" / "breastmnist.npz").read_bytes()
    (folder / "breastmnist.npz").write_bytes(blob[: len(blob) // 2])


def _missing_key(folder: Path, shared_data: Path) -> None:
    arrays = _arrays()
    del arrays["val_labels"]
    np.savez(folder / "breastmnist.npz", **arrays)


def _length_mismatch(folder: Path, shared_data: Path) -> None:
    arrays = _arrays()
    arrays["test_labels"] = arrays["test_labels"][:3]
    np.savez(folder / "breastmnist.npz", **arrays)


@pytest.mark.parametrize("damage, fragments", [
    (_truncated, ("breastmnist.npz is not a readable .npz", "download it again")),
    (_missing_key, ("no 'val_labels' array",)),
    (_length_mismatch, ("test has 4 images but 3 labels",)),
])
def test_bad_npz_files_are_one_line_errors(shared_data: Path, tmp_path: Path, damage, fragments):
    damage(tmp_path, shared_data)
    proc = invoke(*SMOKE, "--tasks", "breastmnist", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"),
                   check=False)
    assert_one_line_error(proc, *fragments)


@pytest.mark.slow
def test_medmnist_v2_recipe_shortened_learns_breastmnist(shared_data: Path, tmp_path: Path):
    """The anchor's recipe (Adam 1e-3, lr ×0.1 at 50 % and 75 %, small stem), shortened to 3 epochs and 1 seed:
    AUROC well above chance (0.765 on CPU). Batch 32 instead of 128 gives 51 steps rather than 15, enough to learn.

    The full reproduction is `medbench run --init scratch --backbone resnet18 --stem small --protocol medmnist-v2
    --tasks breastmnist --data-dir ../shared/data/medmnist` (100 epochs × 3 seeds; published AUC 0.901)."""
    import torch

    from harness.protocols import PROTOCOLS
    from harness.runner import run_grid

    protocol = PROTOCOLS.get("medmnist-v2").with_overrides(epochs=3, seeds=(0,), batch_size=32)
    run_grid([get_task("breastmnist")], ["scratch"], ["resnet18"], protocol, (0,), tmp_path, shared_data / "medmnist",
             torch.device("cpu"), report=lambda _: None, progress=False)
    (record,) = read_records(tmp_path)
    assert record["status"] == "ok" and record["provenance"]["protocol_config"]["stem"] == "small"
    assert record["metrics"]["auroc"] > 0.7

"""Evaluation regimes: linear probe and kNN on cached frozen features, label budgets, image size as a
protocol parameter, and the records, names and tables they produce."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from harness.data import load_data
from harness.data.batches import BatchTransform, TensorSplit
from harness.errors import MedbenchError
from harness.objectives import ClassificationObjective
from harness.protocols import PROTOCOLS
from harness.regimes import Regime, parse_label_budget
from harness.regimes.budget import budget_index
from harness.regimes.features import cache_dir, cached_features
from harness.regimes.knn import shares_as_logits, vote_shares
from harness.regimes.plan import plan_task
from harness.regimes.probe import evaluate_logits, fit_probe
from harness.regimes.resolution import size_matched
from harness.results import record_path, write_json_atomic
from harness.results_table import records_frame, summarize
from harness.tasks import get_task
from tests.conftest import assert_one_line_error, invoke, read_records

SMOKE = ["run", "--backbone", "resnet18", "--protocol", "smoke", "--tasks", "synth-xray-cls", "--quiet"]


# --- label budgets -------------------------------------------------------------------------------


def test_a_budget_is_class_balanced_nested_and_a_function_of_labels_seed_and_n_only():
    labels = np.random.default_rng(1).integers(0, 3, 500)
    small, large = budget_index(labels, "multiclass", 8, seed=0), budget_index(labels, "multiclass", 64, seed=0)
    assert np.bincount(labels[small]).tolist() == [8, 8, 8] and np.bincount(labels[large]).tolist() == [64, 64, 64]
    assert set(small) <= set(large)  # a smaller budget is part of a larger one at the same seed
    assert np.array_equal(small, budget_index(labels.copy(), "multiclass", 8, seed=0))
    assert not np.array_equal(small, budget_index(labels, "multiclass", 8, seed=1))
    rare = np.array([0] * 50 + [1] * 3)
    assert np.bincount(rare[budget_index(rare, "binary", 8, seed=0)]).tolist() == [8, 3]  # all of a class that has fewer


def test_multilabel_budgets_cover_every_label_and_segmentation_budgets_count_images():
    labels = (np.random.default_rng(2).random((400, 5)) < [0.5, 0.2, 0.05, 0.02, 0.3]).astype(np.uint8)
    chosen = labels[budget_index(labels, "multilabel", 4, seed=0)]
    assert (chosen.sum(axis=0) >= np.minimum(4, labels.sum(axis=0))).all()
    assert (~chosen.any(axis=1)).sum() >= min(4, (~labels.any(axis=1)).sum())  # images with no label are a class too
    assert len(budget_index(np.zeros((30, 8, 8), np.uint8), "segmentation", 5, seed=0)) == 5


@pytest.mark.parametrize("text, expected", [("full", None), (None, None), ("8", 8), (" 64 ", 64)])
def test_label_budgets_parse(text, expected):
    assert parse_label_budget(text) == expected


@pytest.mark.parametrize("text", ["0", "-3", "eight"])
def test_bad_label_budgets_are_user_errors(text):
    with pytest.raises(MedbenchError, match="--label-budget"):
        parse_label_budget(text)


# --- record names and tables ---------------------------------------------------------------------


def test_the_default_regime_keeps_record_names_and_others_get_their_own():
    assert Regime().tag == ""
    assert Regime("linear-probe", 8, 224).tag == "linear-probe__budget8__px224"
    assert Regime("knn", knn_k=20).tag == "knn-k20"
    out = Path("r")
    assert record_path(out, "t", "scratch", "resnet18", "quick", 0, variant=Regime().tag) == record_path(
        out, "t", "scratch", "resnet18", "quick", 0)
    assert record_path(out, "t", "scratch", "resnet18", "quick", 0, variant="linear-probe__budget8").name == (
        "scratch__resnet18__quick__linear-probe__budget8__seed0.json")


def test_results_group_by_regime_and_read_old_records_as_finetuned_on_every_label(tmp_path: Path):
    def record(seed, acc, **regime):
        return {"schema_version": 1, "task": "t", "init": "scratch", "backbone": "resnet18", "protocol": "quick", "seed": seed,
                "status": "ok", "metrics": {"accuracy": acc}, "efficiency": {}, "model": {"image_size": 64}, **regime}

    write_json_atomic(tmp_path / "old.json", record(0, 0.5))
    write_json_atomic(tmp_path / "lp.json", record(0, 0.7, mode="linear-probe", label_budget=8, image_size=64))
    write_json_atomic(tmp_path / "lp1.json", record(1, 0.9, mode="linear-probe", label_budget=8, image_size=64))
    write_json_atomic(tmp_path / "b64.json", record(0, 0.6, mode="finetune", label_budget=64, image_size=64))
    table = summarize(records_frame(tmp_path), ["accuracy"])
    assert list(zip(table["mode"], table["label_budget"])) == [("finetune", "64"), ("finetune", "full"), ("linear-probe", "8")]
    assert table["accuracy_mean"].tolist() == pytest.approx([0.6, 0.5, 0.8]) and table["image_size"].tolist() == [64] * 3


# --- image size ----------------------------------------------------------------------------------


def _medmnist_file(path: Path, size: int) -> None:
    rng = np.random.default_rng(0)
    arrays = {f"{split}_{kind}": (rng.integers(0, 255, (6, size, size), dtype=np.uint8) if kind == "images"
                                  else rng.integers(0, 2, (6, 1)))
              for split in ("train", "val", "test") for kind in ("images", "labels")}
    np.savez(path, **arrays)


def test_a_size_uses_the_medmnist_plus_file_of_that_size_when_present_else_resizes(tmp_path: Path):
    breast, quick = get_task("breastmnist"), PROTOCOLS.get("quick")
    plan = plan_task(breast, quick, Regime(image_size=64), tmp_path)
    assert plan.data_task.name == "breastmnist" and plan.image_source["resized"] and plan.regime.tag == "px64"
    assert plan.protocol.image_size == 64 and plan.image_size == 64

    _medmnist_file(tmp_path / "breastmnist_64.npz", 64)
    card, source = size_matched(breast, 64, tmp_path)
    assert card.name == "breastmnist_64" and source == {"card": "breastmnist_64", "native_size": 64, "resized": False}
    assert len(load_data(card, tmp_path).train) == 6
    plan = plan_task(breast, quick, Regime(image_size=64), tmp_path)
    assert plan.data_task.name == "breastmnist_64" and plan.task.name == "breastmnist" and plan.regime.tag == "px64"
    # the size a protocol already uses is no override: same record name, same pixels
    assert plan_task(breast, quick, Regime(image_size=28), tmp_path).regime.tag == ""


# --- frozen features, probe, kNN -----------------------------------------------------------------


def _tiny_split(n: int, seed: int) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    return TensorSplit(torch.randint(0, 255, (n, 1, 32, 32), generator=g, dtype=torch.uint8), torch.randint(0, 3, (n,), generator=g))


def test_features_are_cached_verified_and_recomputed_when_the_cache_is_corrupt():
    model = timm.create_model("resnet18", num_classes=3, in_chans=1).eval()
    splits = {"train": _tiny_split(12, 0), "val": _tiny_split(6, 1)}
    args = (model, splits, BatchTransform((0.5,), (0.25,), "none", torch.device("cpu")),
            {"backbone": "resnet18", "test": "cache"}, 8, torch.autocast("cpu", enabled=False))
    first = cached_features(*args)
    assert first.cache == {"train": "computed", "val": "computed"} and first.features["train"].shape == (12, 512)
    again = cached_features(*args)
    assert again.cache == {"train": "hit", "val": "hit"}
    assert np.array_equal(again.features["train"], first.features["train"])

    files = sorted(cache_dir().rglob("*.npz"), key=lambda p: p.stat().st_mtime)[-2:]
    files[0].write_bytes(b"not an npz")  # truncated / garbage
    with np.load(files[1]) as entry:  # readable, but its features no longer match their checksum
        np.savez(files[1], features=entry["features"] + 1, meta=entry["meta"])
    healed = cached_features(*args)
    notes = sorted(healed.cache.values())
    assert notes[0] == "recomputed (cached file failed its checksum)" and notes[1].startswith("recomputed (cached file unreadable")
    assert all(np.array_equal(healed.features[k], first.features[k]) for k in splits)
    assert cached_features(*args).cache == {"train": "hit", "val": "hit"}

    torch.nn.init.constant_(model.conv1.weight, 0.01)  # other weights: another entry, never the old one
    assert cached_features(*args).cache == {"train": "computed", "val": "computed"}


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    centres = torch.tensor([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [0, 0, 4.0, 0]])
    return centres[y] + torch.randn(n, 4, generator=g), y


def test_a_linear_probe_learns_separable_features_and_reports_the_fine_tuning_metric_keys():
    objective = ClassificationObjective("multiclass", 3, "auroc")
    probe = fit_probe(*_blobs(60, 0), *_blobs(30, 1), objective)
    x, y = _blobs(60, 2)
    metrics = evaluate_logits(objective, probe.logits(x), y)
    assert metrics["accuracy"] > 0.95 and metrics["auroc"] > 0.99
    assert {"accuracy", "balanced_accuracy", "auroc", "f1_macro", "ece", "per_class_recall"} <= set(metrics)
    assert [h["weight_decay"] for h in probe.history] == sorted((h["weight_decay"] for h in probe.history), reverse=True)
    assert fit_probe(*_blobs(60, 0), *_blobs(30, 1), objective).weight_decay == probe.weight_decay  # no seed enters


def test_knn_votes_are_class_shares_the_evaluator_reads_back():
    train_x, train_y = _blobs(90, 0)
    query_x, query_y = _blobs(30, 1)
    shares = vote_shares(train_x, train_y, query_x, 11, "multiclass", 3)
    assert torch.allclose(shares.sum(dim=1), torch.ones(30)) and set((shares * 11).round().unique().tolist()) <= set(range(12))
    logits = shares_as_logits(shares, "multiclass")
    assert torch.allclose(logits.softmax(dim=1), shares, atol=1e-4)
    assert evaluate_logits(ClassificationObjective("multiclass", 3, "auroc"), logits, query_y)["accuracy"] > 0.9
    multilabel = vote_shares(train_x, torch.nn.functional.one_hot(train_y, 3), query_x, 200, "multilabel", 3)
    assert multilabel.shape == (30, 3) and torch.allclose(shares_as_logits(multilabel, "multilabel").sigmoid(),
                                                          multilabel.clamp(1e-6, 1 - 1e-6))


# --- end to end through the CLI ------------------------------------------------------------------


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("probe")
    invoke(*SMOKE, "--init", "scratch", "--mode", "linear-probe", "--out", str(out))
    (record,) = read_records(out)
    return out, record


@pytest.mark.slow
def test_a_linear_probe_run_writes_a_record_with_metrics_and_is_not_run_twice(probe_run):
    out, record = probe_run
    assert record["status"] == "ok" and record["mode"] == "linear-probe" and record["label_budget"] == "full"
    assert record["image_size"] == 32 and record["regime"]["tag"] == "linear-probe"
    assert {"accuracy", "balanced_accuracy", "auroc", "f1_macro", "ece"} <= set(record["metrics"])
    assert set(record["regime"]["feature_cache"]) == {"train", "val", "test"} and record["regime"]["probe"]["weight_decay"] > 0
    assert (out / "synth-xray-cls" / "scratch__resnet18__smoke__linear-probe__seed0.json").is_file()
    predictions = np.load(out / "synth-xray-cls" / record["artifacts"]["test_predictions"])
    assert predictions["probs"].shape == (96, 3)
    again = invoke(*SMOKE, "--init", "scratch", "--mode", "linear-probe", "--out", str(out))
    assert "nothing to run" in again.stdout


@pytest.mark.slow
def test_the_label_budget_subset_is_the_same_for_every_init_and_differs_across_seeds(tmp_path: Path):
    weights = tmp_path / "mine.safetensors"
    save_file(timm.create_model("resnet18").state_dict(), weights)
    out = tmp_path / "out"
    invoke(*SMOKE, "--init", f"scratch,file:{weights}", "--mode", "knn", "--label-budget", "8", "--seeds", "0,1",
            "--out", str(out))
    records = read_records(out)
    assert len(records) == 4 and all(r["status"] == "ok" and r["mode"] == "knn" and r["label_budget"] == 8 for r in records)
    assert all(r["regime"]["knn"]["k"] == 11 and r["regime"]["knn"]["k_used"] == 8 and "auroc" in r["metrics"]
               for r in records)  # k is capped at the budget: 11 neighbours would outvote the nearest with every class
    subsets = {(r["init"].split(":")[0], r["seed"]): r["regime"]["budget"] for r in records}
    assert subsets[("scratch", 0)] == subsets[("file", 0)] and subsets[("scratch", 1)] == subsets[("file", 1)]
    assert subsets[("scratch", 0)]["subset_sha256"] != subsets[("scratch", 1)]["subset_sha256"]
    assert subsets[("scratch", 0)]["images_per_class"] == [8, 8, 8]
    assert sorted(p.name for p in (out / "synth-xray-cls").glob("*.json"))[0].endswith("__smoke__knn-k11__budget8__seed0.json")


@pytest.mark.slow
def test_a_fine_tuning_run_on_a_label_budget_writes_a_record(tmp_path: Path):
    invoke(*SMOKE, "--init", "scratch", "--label-budget", "8", "--out", str(tmp_path))
    (record,) = read_records(tmp_path)
    assert record["status"] == "ok" and record["mode"] == "finetune" and record["label_budget"] == 8
    assert record["regime"]["budget"]["train_images"] == 24 and "auroc" in record["metrics"]
    assert json.loads((tmp_path / "synth-xray-cls" / "scratch__resnet18__smoke__budget8__seed0.json").read_text())["seed"] == 0


@pytest.mark.parametrize("args, fragments", [
    (["--mode", "knnn"], ["unknown evaluation mode 'knnn'", "did you mean 'knn'"]),
    (["--mode", "linear-probe", "--tasks", "synth-xray-seg"], ["--mode linear-probe cannot score", "segmentation"]),
    (["--label-budget", "0"], ["--label-budget must be at least 1"]),
    (["--image-size", "4"], ["--image-size must be at least"]),
])
def test_bad_regimes_are_one_line_errors(args, fragments, tmp_path: Path):
    base = [*SMOKE, "--init", "scratch", "--out", str(tmp_path)]
    if "--tasks" in args:
        index = base.index("--tasks")
        del base[index:index + 2]
    assert_one_line_error(invoke(*base, *args, check=False), *fragments)

"""Result records in the real schema for leaderboard tests and benchmarks, and the one test that
checks them against a record written by a real `medbench run --protocol smoke`.

`make_record` copies the structure of a real record (provenance, task card, protocol config,
efficiency figures); its numbers come from a seeded generator, so tests stay fast.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pytest

from harness.protocols import PROTOCOLS
from harness.provenance import software
from harness.record import SCHEMA_VERSION
from harness.results import record_path, write_json_atomic
from harness.tasks import get_task
from tests.conftest import invoke

TASKS = ("synth-xray-cls", "synth-histo-cls", "synth-fundus-cls", "synth-ultrasound-cls")
INIT_SKILL = {"scratch": 0.0, "imagenet": 0.06, "cpmid": 0.09}
BACKBONES = {"resnet18": (11.2e6, 0.56e9, 420.0), "resnet50": (23.5e6, 1.3e9, 150.0), "vit_tiny_patch16_224": (5.5e6, 1.1e9, 380.0)}


def _stable(*parts: Any) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def make_record(task: str, init: str, backbone: str, seed: int, *, protocol: str = "quick", status: str = "ok",
                skill: float | None = None, **extra: Any) -> dict[str, Any]:
    """A record as `harness.runner.run_cell` writes it; `extra` adds or replaces top-level fields."""
    spec, config = get_task(task), PROTOCOLS.get(protocol).to_dict()
    rng = np.random.default_rng(_stable(task, init, backbone, seed))
    level = 0.62 + (INIT_SKILL.get(init, 0.03) if skill is None else skill) + 0.02 * (backbone != "resnet18")
    params, flops, speed = BACKBONES.get(backbone, (10e6, 1e9, 200.0))
    metrics = {}
    if status == "ok":
        acc = float(np.clip(level + rng.normal(0, 0.012), 0, 1))
        metrics = {"accuracy": acc, "balanced_accuracy": acc - 0.01, "auroc": min(1.0, acc + 0.12),
                   "f1_macro": acc - 0.03, "ece": float(abs(rng.normal(0.05, 0.01))), "weighted_accuracy_support": acc,
                   "per_class_recall": [acc] * spec.num_classes, "auroc_absent_classes": []}
    efficiency = {"best_epoch": 4, "flops": int(flops), "params": int(params), "infer_batch_size": 64,
                  "infer_images_per_s": speed * (1 + rng.normal(0, 0.03)), "infer_images_per_s_spread": 0.05,
                  "infer_images_per_s_spread_kind": "relative_iqr", "infer_latency_ms": 1000 / speed * 4,
                  "infer_precision": "float32", "infer_repeats": 10, "infer_warmup": 3,
                  "peak_memory_bytes": int(params * 40), "peak_memory_kind": "process_peak_rss", "resumed": False,
                  "selection": "best validation auroc (test metrics of the last epoch are in metrics_last_epoch)",
                  "train_images_per_s": speed / 3, "wall_time_s": 3000 / speed,
                  "epoch_to_95": 2, "train_images_to_95": 2 * spec.splits["train"],
                  "train_flops_to_95": 6 * int(flops) * spec.splits["train"], "train_seconds_to_95": 600 / speed,
                  "train_flops": 3 * int(flops) * spec.splits["train"] * config["epochs"],
                  "to_95": {"metric": "val_auroc", "fraction": 0.95, "final": level, "threshold": 0.95 * level,
                            "epochs": config["epochs"], "flops_rule": "3 × forward", "rule": "first epoch ≥ 0.95 × last"}}
    weights_sha = None if init == "scratch" else hashlib.sha256(f"{init}/{backbone}".encode()).hexdigest()
    record = {
        "schema_version": SCHEMA_VERSION, "task": task, "init": init, "backbone": backbone, "protocol": protocol,
        "seed": seed, "status": status, "error": "RuntimeError: boom" if status == "failed" else None,
        "mode": "finetune", "label_budget": "full", "image_size": spec.image_size,
        "regime": {"tag": "", "size_override": False, "budget": {"train_images": spec.splits["train"]},
                   "image_source": {"card": task, "native_size": spec.image_size, "resized": False}},
        "metrics": metrics, "metrics_last_epoch": metrics, "val_metrics": metrics, "efficiency": efficiency,
        "artifacts": {},
        "data_audit": {"policy": "warn", "audited_sha256": "d" * 64, "cross_split_exact": 1, "cross_split_near": 2,
                       "train_in_cross_split_groups": 3, "dropped_train": 0, "near_min_correlation": 0.95},
        "history": [{"epoch": e, "lr": 0.002, "train_loss": 1.0 / (e + 1), "val_accuracy": level, "val_auroc": level + 0.1}
                    for e in range(config["epochs"])],
        "model": {"backbone": backbone, "stem": "default", "num_classes": spec.num_classes, "in_chans": spec.channels,
                  "image_size": spec.image_size, "mean": [0.5] * spec.channels, "std": [0.25] * spec.channels,
                  "load_report": None},
        "provenance": {
            **software(), "device": "cpu", "deterministic": True,
            "speed_options": {"fast": False, "channels_last": False, "compile": False},
            "distributed": {"world_size": 1},
            "hardware": {"cpu_count": 2, "cpu_count_usable": 2, "cpu_model": "test CPU", "cpu_capability": "AVX2",
                         "cpu_simd_flags": ["avx", "avx2", "sse2"], "cuda_version": None,
                         "cudnn_version": None, "device_memory_bytes": None, "device_name": "test CPU",
                         "device_type": "cpu", "platform": "Linux", "torch_threads": 2},
            "data_sha256": hashlib.sha256(task.encode()).hexdigest(), "weights_sha256": weights_sha,
            "data_path": {"loaded_into": "memory", "batches": {name: "memory: test" for name in ("train", "val", "test")}},
            "init_provenance": {"source": init.split(":")[0]}, "task_card": spec.to_dict(), "protocol_config": config,
            "command": ["medbench", "run", "--init", init], "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": f"2026-01-01T01:{seed:02d}:00+00:00", "skipped_work": [],
        },
        "submission": None, "contaminated": False, "contamination": None, "cpmid_screening": None,
    }
    record.update(extra)
    return record


def write_results(folder: Path, records: Iterable[dict[str, Any]]) -> Path:
    for record in records:
        write_json_atomic(record_path(folder, record["task"], record["init"], record["backbone"], record["protocol"],
                                      record["seed"]), record)
    return folder


def grid(tasks: Iterable[str] = TASKS[:2], inits: Iterable[str] = ("scratch", "imagenet", "cpmid"),
         backbones: Iterable[str] = ("resnet18",), seeds: Iterable[int] = (0, 1, 2)) -> list[dict[str, Any]]:
    return [make_record(t, i, b, s) for t in tasks for i in inits for b in backbones for s in seeds]


def _shape(value: Any, depth: int = 0) -> Any:
    """Keys (two levels deep) and value types: what a reader of records relies on."""
    if isinstance(value, dict) and depth < 2:
        return {k: _shape(v, depth + 1) for k, v in value.items()}
    return type(value).__name__ if value is not None else None


def test_generated_records_match_a_real_run_and_build_a_site(smoke_results: Path, tmp_path: Path):
    results = shutil.copytree(smoke_results / "synth-xray-cls", tmp_path / "results" / "synth-xray-cls",
                              ignore=shutil.ignore_patterns("*seed1*"))  # seed 0: the record of a full run
    real_path = next(results.glob("*.json"))
    real = json.loads(real_path.read_text())
    assert real["provenance"]["skipped_work"] == [] and real["artifacts"]["cam_pngs"]
    fake = make_record("synth-xray-cls", "scratch", "resnet18", 0, protocol="smoke")
    real_shape, fake_shape = _shape(real), _shape(fake)
    assert set(fake_shape) == set(real_shape)
    for section in ("provenance", "efficiency", "metrics", "model"):
        if section == "metrics":  # real runs add metrics (CAM localisation, …) the leaderboard tests do not need
            assert set(fake_shape[section]) <= set(real_shape[section])
        else:
            assert set(fake_shape[section]) == set(real_shape[section]), section
        mismatched = {k for k, v in fake_shape[section].items() if real_shape[section][k] is not None and v not in (real_shape[section][k], None)}
        assert not mismatched, (section, mismatched)

    proc = invoke("leaderboard", "build", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "site"))
    index = tmp_path / "site" / "index.html"
    assert str(index.resolve()) in proc.stdout and "synth-xray-cls" in index.read_text()
    cams = real.get("artifacts", {}).get("cam_pngs", [])
    assert bool(list((tmp_path / "site" / "cams").glob("*.png"))) == bool(cams)  # the CAM gallery came along
    (task_page,) = [page for page in (tmp_path / "site").rglob("*.html") if "<h1>synth-xray-cls</h1>" in page.read_text()]
    audit = real["data_audit"]
    assert f"{audit['cross_split_exact']} exact and {audit['cross_split_near']} near-duplicate group(s)" in task_page.read_text()

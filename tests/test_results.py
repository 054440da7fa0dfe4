import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import MedbenchError
from harness.results import load_record, record_path, slug, write_json_atomic
from harness.results_table import records_frame, summarize


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path: Path):
    path = tmp_path / "a" / "r.json"
    write_json_atomic(path, {"x": 1})
    write_json_atomic(path, {"x": 2})
    assert json.loads(path.read_text()) == {"x": 2}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path: Path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"x": 1})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"x": object()})
    assert json.loads(path.read_text()) == {"x": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_nan_and_inf_become_null(tmp_path: Path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": math.nan, "b": [math.inf, 1.0], "c": (1, 2)})
    assert "NaN" not in path.read_text() and json.loads(path.read_text()) == {"a": None, "b": [None, 1.0], "c": [1, 2]}


def test_slugs_are_safe_and_unique():
    a, b = slug("file:/tmp/a b.safetensors"), slug("file:/tmp/a_b.safetensors")
    assert a != b and "/" not in a and ":" not in a
    assert slug("imagenet") == "imagenet"
    assert record_path(Path("r"), "t", "hf:org/repo@main", "resnet18", "quick", 3).name.endswith("__resnet18__quick__seed3.json")


def test_future_schema_versions_are_refused(tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(MedbenchError, match="schema_version 99"):
        load_record(path)


def _record(seed, acc, status="ok", init="scratch"):
    return {"schema_version": 1, "task": "t", "init": init, "backbone": "resnet18", "protocol": "quick",
            "seed": seed, "status": status, "metrics": {"accuracy": acc} if status == "ok" else {}, "efficiency": {}}


def test_summary_is_mean_and_sd_over_seeds_and_counts_failures(tmp_path: Path):
    for seed, acc in enumerate([0.5, 0.7, 0.9]):
        write_json_atomic(tmp_path / f"s{seed}.json", _record(seed, acc))
    write_json_atomic(tmp_path / "d.json", _record(3, None, status="diverged"))
    table = summarize(records_frame(tmp_path), ["accuracy"])
    row = table.iloc[0]
    assert row["seeds"] == 4 and row["accuracy_n"] == 3 and row["not_ok"] == "diverged"
    assert row["accuracy_mean"] == pytest.approx(0.7) and row["accuracy_sd"] == pytest.approx(pd.Series([0.5, 0.7, 0.9]).std())

"""The `medbench` command end to end: in process (click's runner) for what it prints and writes, in a
subprocess for what only a process shows (the installed entry point, `python -m harness`)."""

import json
import shutil
from pathlib import Path

import pytest
import timm
from safetensors.torch import save_file

from harness.record import SCHEMA_VERSION
from tests.conftest import SMOKE_CELL, assert_one_line_error, invoke, learned, read_records, run_cli

SMOKE = ["run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "smoke", "--quiet"]


@pytest.fixture
def smoke_records(smoke_results: Path) -> list[dict]:
    """Seed 0 of the session's smoke cell, made with nothing skipped."""
    return [json.loads((smoke_results / "synth-xray-cls" / "scratch__resnet18__smoke__seed0.json").read_text())]


def test_a_smoke_run_writes_a_complete_record(smoke_records):
    (record,) = smoke_records
    assert record["status"] == "ok" and record["schema_version"] == SCHEMA_VERSION and record["provenance"]["skipped_work"] == []
    assert {"accuracy", "balanced_accuracy", "auroc", "f1_macro", "ece"} <= set(record["metrics"])
    assert {"params", "flops", "train_images_per_s", "infer_images_per_s", "infer_latency_ms",
            "peak_memory_bytes", "wall_time_s", "best_epoch"} <= set(record["efficiency"])
    prov = record["provenance"]
    assert len(prov["data_sha256"]) == 64 and prov["weights_sha256"] is None and prov["deterministic"]
    assert prov["protocol_config"]["name"] == "smoke" and prov["torch"] and prov["timm"] and prov["started_at"]


def test_the_same_smoke_run_twice_gives_identical_metrics(smoke_records, tmp_path: Path):
    invoke(*SMOKE_CELL, "--out", str(tmp_path))  # with the test skips: they leave out CAM scores, change no other metric
    (again,) = read_records(tmp_path)
    assert again["provenance"]["skipped_work"] == ["cams", "data-audit", "inference-timing"]
    assert again["artifacts"]["cam_skipped"].startswith("MEDBENCH_SKIP") and again["efficiency"]["infer_repeats"] == 1
    assert again["data_audit"] == {"policy": "warn", "skipped": "MEDBENCH_SKIP=data-audit"}
    assert smoke_records[0]["data_audit"]["cross_split_exact"] == 0  # the full run audited its data
    full = smoke_records[0]["metrics"]
    assert again["metrics"] == {name: value for name, value in full.items() if not name.startswith("cam_")}
    assert any(name.startswith("cam_") for name in full)
    assert learned(again["history"]) == learned(smoke_records[0]["history"])


def test_file_weights_are_loaded_and_their_checksum_recorded(tmp_path: Path):
    weights = tmp_path / "mine.safetensors"
    save_file(timm.create_model("resnet18").state_dict(), weights)
    invoke("run", "--init", f"file:{weights}", "--backbone", "resnet18", "--protocol", "smoke", "--quiet",
            "--tasks", "synth-xray-cls", "--out", str(tmp_path / "out"))
    (record,) = read_records(tmp_path / "out")
    assert record["status"] == "ok" and len(record["provenance"]["weights_sha256"]) == 64
    assert record["model"]["load_report"]["matched_fraction"] == 1.0


def test_results_prints_mean_and_sd_and_writes_csv(smoke_results: Path, tmp_path: Path):
    out = shutil.copytree(smoke_results, tmp_path / "r")  # seeds 0 and 1
    proc = invoke("results", str(out), "--csv", str(tmp_path / "s.csv"))
    assert "synth-xray-cls" in proc.stdout and "±" in proc.stdout
    assert (tmp_path / "s.csv").read_text().startswith("task,init,backbone,protocol")


def test_listing_commands(tmp_path: Path):
    assert "synth-xray-cls" in invoke("tasks", "list").stdout
    assert "label_names" in invoke("tasks", "show", "breastmnist").stdout
    listing = invoke("inits", "list").stdout
    assert all(name in listing for name in ("scratch", "imagenet", "file:", "hf:"))


@pytest.mark.parametrize("args, fragments", [
    (["--tasks", "synth-xray-clss"], ["unknown task", "did you mean 'synth-xray-cls'"]),
    (["--init", "imagenett"], ["unknown init source", "did you mean 'imagenet'"]),
    (["--backbone", "resnet1B"], ["unknown backbone", "did you mean"]),
    (["--init", "file:/nonexistent/w.safetensors"], ["/nonexistent/w.safetensors"]),
    (["--protocol", "smok"], ["unknown protocol", "did you mean 'smoke'"]),
    (["--seeds", "a,b"], ["--seeds must be comma-separated whole numbers"]),
])
def test_bad_input_is_one_line_without_traceback(args, fragments, tmp_path: Path):
    base = ["run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "smoke", "--tasks", "synth-xray-cls",
            "--quiet", "--out", str(tmp_path)]
    for flag in args[::2]:
        if flag in base:
            index = base.index(flag)
            del base[index:index + 2]
    assert_one_line_error(invoke(*base, *args, check=False), *fragments)
    assert not list(tmp_path.rglob("*.json"))


def test_corrupt_weights_and_weights_of_another_architecture(tmp_path: Path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    wrong = tmp_path / "resnet50.safetensors"
    save_file(timm.create_model("resnet50").state_dict(), wrong)
    for path, fragment in ((corrupt, str(corrupt)), (wrong, "match only")):
        proc = invoke("run", "--init", f"file:{path}", "--backbone", "resnet18", "--protocol", "smoke",
                      "--tasks", "synth-xray-cls", "--quiet", "--out", str(tmp_path / "out"), check=False)
        assert_one_line_error(proc, fragment)


def test_a_mistyped_skip_switch_is_a_one_line_error(tmp_path: Path):
    proc = invoke(*SMOKE_CELL, "--out", str(tmp_path), env={"MEDBENCH_SKIP": "cams,timing"}, check=False)
    assert_one_line_error(proc, "MEDBENCH_SKIP names unknown work 'timing'", "inference-timing")
    assert not list(tmp_path.rglob("*"))


def test_the_installed_entry_point_answers_bad_input_in_one_line(tmp_path: Path):
    proc = run_cli("run", "--tasks", "synth-xray-clss", "--out", str(tmp_path), check=False)
    assert_one_line_error(proc, "unknown task", "did you mean 'synth-xray-cls'")


def test_python_dash_m_harness_is_the_same_command():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True, check=True)
    assert "Benchmark initialization sources" in proc.stdout


@pytest.mark.parametrize("command", [["run", "--tasks", "synth-xray-cls", "--protocol", "smoke"],
                                     ["pretrain", "--backbone", "resnet18"]])
def test_ctrl_c_says_that_the_same_command_resumes(command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("harness.runner.run_grid", interrupted)
    monkeypatch.setattr("harness.pretrain.pretrain", interrupted)
    result = invoke(*command, "--out", str(tmp_path / "out"), check=False)
    assert result.exit_code == 130 and "Aborted" not in result.output
    assert result.stderr.strip().startswith("interrupted:") and "run the same command again to resume" in result.stderr
    assert not (tmp_path / "out").exists()

"""A run killed with SIGKILL mid-training and started again ends with the same metrics as an uninterrupted one."""

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import MEDBENCH, SMOKE_CELL, invoke, learned, read_records, run_cli

CARD = {
    "name": "tiny-xray", "kind": "multiclass", "description": "a small synthetic chest X-ray task for resume tests",
    "source": {"loader": "synthetic", "args": {"family": "xray", "seed": 7}},
    "label_names": None, "channels": 1, "image_size": 32, "splits": {"train": 256, "val": 64, "test": 64},
    "metrics": ["accuracy"], "license": "CC0-1.0", "citation": "medbench", "tags": ["test"],
}


@pytest.fixture
def task_env(tmp_path: Path) -> dict[str, str]:
    from harness.tasks import get_task

    card = dict(CARD, label_names=list(get_task("synth-xray-cls").label_names))
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "tiny-xray.yaml").write_text(yaml.safe_dump(card))
    return {"MEDBENCH_TASK_DIRS": str(tmp_path / "cards")}


# timm's test_resnet: resuming is the engine's job, the same for every architecture
ARGS = ["run", "--init", "scratch", "--backbone", "test_resnet", "--protocol", "quick", "--seeds", "0",
        "--tasks", "tiny-xray", "--quiet"]


@pytest.mark.slow
def test_kill_dash_nine_then_resume_gives_identical_metrics(tmp_path: Path, task_env: dict[str, str]):
    run_cli(*ARGS, "--out", str(tmp_path / "straight"), env=task_env)
    (straight,) = read_records(tmp_path / "straight")

    out = tmp_path / "killed"
    proc = subprocess.Popen([str(MEDBENCH), *ARGS, "--out", str(out)], env={**os.environ, **task_env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / ".checkpoints" / "tiny-xray" / "scratch__test_resnet__quick__seed0.pt"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert checkpoint.exists() and not list(out.rglob("*.json"))

    again = run_cli(*ARGS, "--out", str(out), env=task_env)
    assert "run 1 of 1: tiny-xray scratch test_resnet seed=0 — resuming from its checkpoint" in again.stdout
    (resumed,) = read_records(out)
    assert resumed["efficiency"]["resumed"] is True and straight["efficiency"]["resumed"] is False
    assert resumed["metrics"] == straight["metrics"] and learned(resumed["history"]) == learned(straight["history"])
    assert not checkpoint.exists()


def test_a_finished_grid_is_not_run_again(smoke_results: Path, tmp_path: Path):
    out = shutil.copytree(smoke_results, tmp_path / "out")  # the smoke grid (seeds 0, 1), already run
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    again = invoke(*SMOKE_CELL, "--seeds", "0,1", "--out", str(out))
    assert "nothing to run" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.json")} == before and len(before) == 2

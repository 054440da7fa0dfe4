"""Sweeps: claims keep workers off each other's cells, dead workers leave failed records, status tells it all."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.claims import claim_path, try_claim
from harness.record import SCHEMA_VERSION
from harness.results import record_path, write_json_atomic
from harness.sweeps.grid import Grid, SweepCell, save_grid
from harness.sweeps.launch import Job, execute
from tests.conftest import invoke, read_records as read_all, run_cli

TASK = "synth-xray-cls"
# a tiny timm model: the sweep is what is tested, not the network
SMOKE = ["--tasks", TASK, "--protocol", "smoke", "--init", "scratch", "--backbone", "test_resnet"]


def read_records(folder: Path) -> list[dict]:
    return [record for record in read_all(folder) if "task" in record]  # not sweep.json


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_claim(path: Path, host: str, pid: int, age_s: float = 0.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "started_at": "2026-01-01T00:00:00+00:00", "token": "t"}))
    then = time.time() - age_s
    os.utime(path, (then, then))


def record(out: Path, seed: int, status: str, error: str | None = None) -> Path:
    path = record_path(out, TASK, "scratch", "resnet18", "smoke", seed)
    write_json_atomic(path, {"schema_version": SCHEMA_VERSION, "task": TASK, "init": "scratch", "backbone": "resnet18",
                             "protocol": "smoke", "seed": seed, "status": status, "error": error, "metrics": {}})
    return path


def test_concurrent_claims_of_one_cell_admit_exactly_one(tmp_path: Path):
    path = tmp_path / ".claims" / TASK / "cell.claim"
    start, results = threading.Barrier(8), []

    def contend() -> None:
        start.wait()
        results.append(try_claim(path))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [claim for claim in results if claim is not None]
    assert len(winners) == 1
    assert try_claim(path) is None  # held by a live process (this one)
    winners[0].release()
    assert not path.exists() and try_claim(path) is not None


def test_stale_claims_are_taken_over_and_live_ones_are_not(tmp_path: Path):
    here = socket.gethostname()
    dead = tmp_path / "dead.claim"
    write_claim(dead, here, dead_pid())
    assert try_claim(dead) is not None
    silent = tmp_path / "silent.claim"  # a holder elsewhere that stopped its heartbeat 20 minutes ago
    write_claim(silent, "node-17", 4242, age_s=1200)
    assert try_claim(silent) is not None
    busy = tmp_path / "busy.claim"
    write_claim(busy, "node-17", 4242, age_s=30)
    assert try_claim(busy) is None and json.loads(busy.read_text())["host"] == "node-17"


def test_run_skips_a_cell_another_worker_holds(tmp_path: Path):
    claim = try_claim(claim_path(tmp_path, record_path(tmp_path, TASK, "scratch", "test_resnet", "smoke", 0)))
    proc = invoke("run", "--init", "scratch", "--backbone", "test_resnet", "--tasks", TASK, "--protocol", "smoke",
                  "--seeds", "0", "--quiet", "--out", str(tmp_path))
    assert "another worker has it" in proc.stdout and not read_records(tmp_path)
    claim.release()


def test_a_worker_that_dies_leaves_a_failed_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cell = SweepCell(TASK, "scratch", "resnet18", 0)
    path = record_path(tmp_path, TASK, "scratch", "resnet18", "smoke", 0)
    job = Job(cell, "smoke", (), path, tmp_path / "job.log")
    suicide = [sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"]  # as the out-of-memory killer would
    monkeypatch.setattr(Job, "command", lambda self, processes: suicide)
    assert execute(job) == "failed"
    (dead,) = read_records(tmp_path)
    assert dead["status"] == "failed" and "killed by SIGKILL" in dead["error"] and dead["seed"] == 0


def test_status_shows_done_running_failed_and_missing_cells(tmp_path: Path):
    save_grid(tmp_path, Grid(("scratch",), ("resnet18",), (TASK,), "smoke", (0, 1, 2, 3, 4, 5)))
    record(tmp_path, 0, "ok")
    record(tmp_path, 1, "failed", "RuntimeError: CUDA out of memory")
    record(tmp_path, 2, "diverged", "training loss became nan")
    live = try_claim(claim_path(tmp_path, record_path(tmp_path, TASK, "scratch", "resnet18", "smoke", 3)))
    write_claim(claim_path(tmp_path, record_path(tmp_path, TASK, "scratch", "resnet18", "smoke", 4)),
                socket.gethostname(), dead_pid())
    shown = invoke("status", str(tmp_path)).stdout
    assert "done 1  diverged 1  failed 2  running 1  missing 1" in shown, shown
    rows = {line.split()[4]: line for line in shown.splitlines() if line.split()[:1] in (["failed"], ["running"],
                                                                                         ["missing"], ["diverged"])}
    assert rows["1"].startswith("failed") and "CUDA out of memory" in rows["1"]
    assert rows["3"].startswith("running") and f"pid {os.getpid()}" in rows["3"]
    assert rows["4"].startswith("failed") and "stopped without writing a record" in rows["4"]
    assert rows["5"].startswith("missing") and "0" not in rows

    (tmp_path / "sweep.json").unlink()  # without the grid: what the folder holds, nothing is "missing"
    assert "done 1  diverged 1  failed 2  running 1  missing 0" in invoke("status", str(tmp_path)).stdout
    live.release()


@pytest.mark.slow
def test_a_two_worker_sweep_fills_the_grid_once_and_a_rerun_does_nothing(tmp_path: Path):
    out = tmp_path / "sweep"
    first = run_cli("sweep", *SMOKE, "--seeds", "0,1", "--workers", "2", "--out", str(out),
                    env={"OMP_NUM_THREADS": "1"})
    assert "running 2" in first.stdout and first.stdout.count(": ok") == 2, first.stdout
    records = read_records(out)
    assert sorted(r["seed"] for r in records) == [0, 1] and {r["status"] for r in records} == {"ok"}
    logs = sorted((out / ".sweep" / "logs").rglob("*.log"))
    assert [log.read_text().count("→") for log in logs] == [1, 1]  # each cell trained once, by its own job
    assert not list(out.rglob("*.claim")) and not list(out.rglob("*.pt"))

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = invoke("sweep", *SMOKE, "--seeds", "0,1", "--workers", "2", "--out", str(out))
    assert "nothing to run" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "sweep.json"} == \
           {p: t for p, t in before.items() if p.name != "sweep.json"}

    # a bigger grid through submitit's local executor runs only the new cell
    grown = run_cli("sweep", *SMOKE, "--seeds", "0,1,2", "--launcher", "submitit", "--cluster", "local", "--wait",
                    "--time-limit", "20", "--out", str(out), env={"OMP_NUM_THREADS": "1"})
    assert "2 of 3 cells finished; running 1" in grown.stdout and f"{TASK} scratch test_resnet seed=2: ok" in grown.stdout
    assert sorted(r["seed"] for r in read_records(out)) == [0, 1, 2]
    assert "done 3  diverged 0  failed 0  running 0  missing 0" in invoke("status", str(out)).stdout
    assert "scratch" in invoke("results", str(out)).stdout  # sweep.json and the .sweep folder do not disturb it


def test_a_sweep_passes_its_regime_to_each_run_and_status_finds_the_records(tmp_path: Path):
    out = tmp_path / "sweep"
    first = invoke("sweep", *SMOKE, "--seeds", "0", "--mode", "knn", "--label-budget", "8", "--knn-k", "5",
                    "--out", str(out), env={"OMP_NUM_THREADS": "1"})
    assert first.stdout.count(": ok") == 1, first.stdout
    (made,) = read_records(out)
    assert (made["mode"], made["label_budget"], made["regime"]["tag"]) == ("knn", 8, "knn-k5__budget8")
    assert "done 1  diverged 0  failed 0  running 0  missing 0" in invoke("status", str(out)).stdout
    assert "nothing to run" in invoke("sweep", *SMOKE, "--seeds", "0", "--mode", "knn", "--label-budget", "8",
                                       "--knn-k", "5", "--out", str(out)).stdout

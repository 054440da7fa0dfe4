"""Sweeps: expand a grid, skip what is finished, run each remaining cell as a job (local or Slurm)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.sweeps.grid import Grid, SweepCell, check_grid, load_grid, save_grid
from harness.sweeps.launch import SWEEP_DIR, Job, LocalLauncher, SubmititLauncher, read_slurm_config
from harness.sweeps.status import STATES, CellStatus, folder_status

Report = Callable[[str], None]
Launcher = Callable[[list[Job], Report], None]


def jobs_to_run(grid: Grid, out: Path) -> list[Job]:
    """A job for every cell without a finished record (a failed one is retried)."""
    from harness.runner import is_finished

    jobs = []
    for cell in grid.cells():
        plan = grid.plan(cell)
        record = plan.record_path(out, cell.init, cell.backbone, cell.seed)
        if not is_finished(record):
            log = out / SWEEP_DIR / "logs" / record.relative_to(out).with_suffix(".log")
            jobs.append(Job(cell, grid.protocol, tuple(grid.run_args(out, cell)), record, log, plan.record_fields({})))
    return jobs


def run_sweep(grid: Grid, out: Path, launch: Launcher, report: Report = print) -> list[Job]:
    """Check the names, write out/sweep.json, launch what is left; returns the jobs launched."""
    check_grid(grid)
    save_grid(out, grid)
    jobs = jobs_to_run(grid, out)
    total = len(grid.cells())
    if not jobs:
        report(f"all {total} cells have a finished record in {out}; nothing to run")
        return []
    report(f"{total - len(jobs)} of {total} cells finished; running {len(jobs)}")
    launch(jobs, report)
    return jobs


__all__ = ["STATES", "CellStatus", "Grid", "Job", "LocalLauncher", "SubmititLauncher", "SweepCell", "folder_status",
           "jobs_to_run", "load_grid", "read_slurm_config", "run_sweep"]

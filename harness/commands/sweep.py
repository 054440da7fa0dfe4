"""`medbench sweep`: a grid of runs as parallel jobs, on this machine or on Slurm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.commands import exit_if_runs_not_ok, resumes_on_rerun, user_errors
from harness.commands.runspec import GRID_OPTIONS, PLACE_OPTIONS, grid_from_options, with_options


@click.command()
@with_options(GRID_OPTIONS + PLACE_OPTIONS)
@click.option("--launcher", type=click.Choice(["local", "submitit"]), default="local", show_default=True)
@click.option("--workers", type=int, default=1, show_default=True, help="local: jobs at a time.")
@click.option("--gpus", type=int, default=None,
              help="GPUs per job, one process each through torchrun when more than one "
                   "(local default: 1 when GPUs are visible; submitit: gpus_per_node).")
@click.option("--cluster", type=click.Choice(["slurm", "local"]), default="slurm", show_default=True,
              help="submitit: Slurm, or submitit's local executor to try a sweep on this machine.")
@click.option("--slurm-config", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="YAML of submitit parameters (slurm_partition, gpus_per_node, timeout_min, slurm_account, …).")
@click.option("--partition", default=None, help="submitit: Slurm partition (overrides --slurm-config).")
@click.option("--time-limit", type=int, default=None, help="submitit: minutes per job (overrides --slurm-config).")
@click.option("--wait", is_flag=True, help="submitit: wait for the jobs and report each (default: submit and return).")
@user_errors
@resumes_on_rerun
def sweep(out: Path, launcher: str, workers: int, gpus: int | None, cluster: str, slurm_config: Path | None,
          partition: str | None, time_limit: int | None, wait: bool, **options: Any) -> None:
    """Run every (task, init, backbone, seed) cell as its own job (`medbench run` of that cell, with the same options);
    finished cells are skipped, so re-running resumes.

    The grid is written to OUT/sweep.json; follow it with `medbench status OUT`."""
    from harness.sweeps import SWEEP_DIR, LocalLauncher, SubmititLauncher, read_slurm_config, run_sweep

    grid = grid_from_options(options)
    if launcher == "local":
        launch = LocalLauncher(workers, gpus)
    else:
        overrides = {"slurm_partition": partition, "gpus_per_node": gpus, "timeout_min": time_limit}
        parameters = {**(read_slurm_config(slurm_config) if slurm_config else {}),
                      **{key: value for key, value in overrides.items() if value is not None}}
        launch = SubmititLauncher(out.resolve() / SWEEP_DIR / "submitit", parameters, cluster, wait)
    jobs = run_sweep(grid, out.resolve(), launch, report=click.echo)
    exit_if_runs_not_ok(job.record for job in jobs)  # records of jobs still queued on Slurm do not exist yet


COMMANDS = [sweep]

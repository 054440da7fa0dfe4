"""`medbench sweep`: a grid of runs as parallel jobs, on this machine or on Slurm."""

from __future__ import annotations

from pathlib import Path

import click

from harness.commands import exit_if_runs_not_ok, parse_seeds, resumes_on_rerun, split_list, user_errors


@click.command()
@click.option("--inits", multiple=True, default=("scratch",), show_default=True,
              help="Init sources; repeat or comma-separate.")
@click.option("--backbones", multiple=True, default=("resnet18",), show_default=True,
              help="timm model names; repeat or comma-separate.")
@click.option("--tasks", "task_names", default=None, help="Comma-separated task names (default: the embedded suite).")
@click.option("--protocol", "protocol_name", default="quick", show_default=True)
@click.option("--seeds", default=None, help="Comma-separated seeds (default: the protocol's).")
@click.option("--stem", type=click.Choice(["default", "small"]), default=None, help="Passed to each `medbench run`.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("results"), show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--device", default="auto", show_default=True, help="Passed to each `medbench run`.")
@click.option("--mode", default="finetune", show_default=True, help="Passed to each `medbench run`: finetune | linear-probe | knn.")
@click.option("--label-budget", default="full", show_default=True, help="Passed to each `medbench run`: labels per class, or full.")
@click.option("--image-size", type=int, default=None, help="Passed to each `medbench run`.")
@click.option("--knn-k", type=int, default=None, help="Passed to each `medbench run` (default 11).")
@click.option("--fast", is_flag=True, help="Passed to each `medbench run`.")
@click.option("--compile", "compile_model", is_flag=True, help="Passed to each `medbench run`.")
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
def sweep(inits: tuple[str, ...], backbones: tuple[str, ...], task_names: str | None, protocol_name: str,
          seeds: str | None, stem: str | None, out: Path, data_dir: Path | None, device: str, mode: str,
          label_budget: str, image_size: int | None, knn_k: int | None, fast: bool, compile_model: bool, launcher: str,
          workers: int, gpus: int | None, cluster: str, slurm_config: Path | None, partition: str | None,
          time_limit: int | None, wait: bool) -> None:
    """Run every (task, init, backbone, seed) cell as its own job; finished cells are skipped, so re-running resumes.

    The grid is written to OUT/sweep.json; follow it with `medbench status OUT`."""
    from harness.protocols import PROTOCOLS
    from harness.regimes import KNN_K, Regime, parse_label_budget
    from harness.sweeps import SWEEP_DIR, Grid, LocalLauncher, SubmititLauncher, read_slurm_config, run_sweep
    from harness.tasks import tasks_tagged

    seed_list = parse_seeds(seeds) if seeds else PROTOCOLS.get(protocol_name).seeds
    tasks = tuple(split_list(task_names)) if task_names else tuple(task.name for task in tasks_tagged("embedded"))
    regime = Regime(mode, parse_label_budget(label_budget), image_size, KNN_K if knn_k is None else knn_k)
    grid = Grid(tuple(split_list(inits)), tuple(split_list(backbones)), tasks, protocol_name, tuple(seed_list), stem,
                str(data_dir.resolve()) if data_dir else None, device, regime.mode, regime.label_budget,
                regime.image_size, regime.knn_k, fast, compile_model)
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

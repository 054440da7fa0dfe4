"""Run a sweep's cells as jobs: worker processes on this machine, or Slurm jobs through submitit.

A job is one `medbench run` of one cell in its own process (through torchrun when it has several
GPUs), so a crash, an out-of-memory kill or a segfault ends that cell only. `execute` watches the
process: if it dies without leaving a finished record, it writes a `failed` record saying how it
died, so a dead worker is as visible as a Python error. The runner's claims keep two jobs (of this
sweep or another one sharing the folder) off the same cell.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import MedbenchError
from harness.provenance import now_utc, software
from harness.record import SCHEMA_VERSION, RunRecord
from harness.results import RUNS_NOT_OK_EXIT, load_record, write_json_atomic
from harness.sweeps.grid import SweepCell

Report = Callable[[str], None]
SWEEP_DIR = ".sweep"  # logs and submitit's files, beside the results


@dataclass(frozen=True)
class Job:
    cell: SweepCell
    protocol: str
    run_args: tuple[str, ...]  # `medbench run …` of this one cell
    record: Path
    log: Path
    regime_fields: dict[str, Any] = field(default_factory=dict)  # mode, label budget, size: as the cell's run records them

    def command(self, processes: int) -> list[str]:
        """`python -m harness run …`, or torchrun with one process per GPU."""
        launcher = (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
                    if processes > 1 else [])
        return [sys.executable, *launcher, "-m", "harness", *self.run_args]


def execute(job: Job, processes: int = 1, env: dict[str, str] | None = None) -> str:
    """Run one job to its end; returns the record's status ('failed' with a written record if the process died)."""
    job.log.parent.mkdir(parents=True, exist_ok=True)
    command = job.command(processes)
    with job.log.open("w") as log:
        returncode = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, **(env or {})}).returncode
    status = _status(job.record)
    if returncode == RUNS_NOT_OK_EXIT and status is not None:
        return status  # the run finished and its record says why it failed or diverged
    if returncode != 0 and status in (None, "failed"):
        write_json_atomic(job.record, death_record(job, returncode, command).to_dict())
        return "failed"
    return status or "skipped"  # exit 0 without a record: another worker holds the cell


def death_record(job: Job, returncode: int, command: list[str]) -> RunRecord:
    """The record of a cell whose process ended without writing one; it is retried by the next sweep."""
    if returncode < 0:
        how = f"killed by {signal.Signals(-returncode).name}"
        how += " (the kernel's out-of-memory killer sends SIGKILL)" if returncode == -signal.SIGKILL else ""
    else:
        how = f"exited with status {returncode}: {_last_line(job.log)}"
    cell = job.cell
    return RunRecord.from_dict({
        "schema_version": SCHEMA_VERSION, "task": cell.task, "init": cell.init, "backbone": cell.backbone,
        "protocol": job.protocol, "seed": cell.seed, "status": "failed", "error": f"worker process {how} (log: {job.log})",
        **job.regime_fields, "provenance": {**software(), "command": command, "finished_at": now_utc()}},
        "the record of a dead worker")


@dataclass
class LocalLauncher:
    """`workers` jobs at a time on this machine; worker slots take turns over the visible GPUs."""

    workers: int = 1
    gpus: int | None = None  # per job; None: one GPU per job when GPUs are visible, else none

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise MedbenchError(f"--workers must be at least 1, got {self.workers}")

    def __call__(self, jobs: list[Job], report: Report) -> None:
        devices = _visible_gpus()
        per_job = (1 if devices else 0) if self.gpus is None else self.gpus
        if per_job > len(devices):
            raise MedbenchError(f"--gpus {per_job} asks for more GPUs per job than the {len(devices)} visible here")
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(self.workers):
            slots.put(slot)

        def run(job: Job) -> None:
            slot = slots.get()
            try:
                mine = [devices[(slot * per_job + i) % len(devices)] for i in range(per_job)]  # more workers: shared
                env = {"CUDA_VISIBLE_DEVICES": ",".join(mine)} if per_job else {}
                report(f"{job.cell.label}: {execute(job, max(per_job, 1), env)}")
            finally:
                slots.put(slot)

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(run, jobs))


@dataclass
class SubmititLauncher:
    """One Slurm job per cell (a job array), through submitit; `cluster="local"` runs them here, as tests do."""

    folder: Path
    parameters: dict[str, Any] = field(default_factory=dict)  # submitit's update_parameters names
    cluster: str = "slurm"
    wait: bool = False

    def __post_init__(self) -> None:
        """Settings are checked here, before the sweep writes or launches anything."""
        try:
            import submitit
        except ImportError:
            raise MedbenchError("the submitit launcher needs submitit: pip install 'medbench[slurm]'") from None
        try:
            self._executor = submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster)
            self._executor.update_parameters(**{"name": "medbench", "nodes": 1, "tasks_per_node": 1, **self.parameters})
        except RuntimeError as exc:  # no srun on this machine
            raise MedbenchError(f"{exc} Use --cluster local to try the sweep here, or --launcher local") from None
        except NameError as exc:  # a parameter submitit does not know
            raise MedbenchError(f"Slurm setting rejected by submitit: {str(exc).splitlines()[0]}") from None

    def __call__(self, jobs: list[Job], report: Report) -> None:
        import submitit

        processes = max(int(self.parameters.get("gpus_per_node") or 1), 1)
        with self._executor.batch():
            handles = [self._executor.submit(execute, job, processes) for job in jobs]
        report(f"submitted {len(handles)} jobs ({', '.join(h.job_id for h in handles)}); logs in {self.folder}")
        if not self.wait:
            return
        for job, handle in zip(jobs, handles):
            try:
                report(f"{job.cell.label}: {handle.result()}")
            except (submitit.core.utils.UncompletedJobError, submitit.core.utils.FailedJobError) as exc:
                report(f"{job.cell.label}: job {handle.job_id} did not finish ({str(exc).splitlines()[0]})")


def read_slurm_config(path: Path) -> dict[str, Any]:
    """A YAML mapping of submitit parameters (slurm_partition, gpus_per_node, timeout_min, slurm_account, …)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise MedbenchError(f"cannot read Slurm config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise MedbenchError(f"Slurm config {path} must be a mapping such as `slurm_partition: gpu`")
    return data


def _status(record: Path) -> str | None:
    if not record.is_file():
        return None
    try:
        return load_record(record).status
    except MedbenchError:
        return None


def _last_line(log: Path) -> str:
    text = log.read_text(errors="replace") if log.is_file() else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _visible_gpus() -> list[str]:
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [device for device in listed.split(",") if device.strip()]
    import torch

    return [str(index) for index in range(torch.cuda.device_count())]

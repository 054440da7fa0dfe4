"""Where a dataset's pixels live while a command runs: in memory (the fast path for data that fit) or
in the on-disk pixel store, read by rows.

`auto` keeps pixels in memory when they take at most MEMORY_SHARE of the memory this process may
still use — the smaller of the machine's available memory and what its cgroup limit leaves (page
cache the kernel would reclaim counted as free) — or,
for batches on a GPU, of the GPU's free memory. `MEDBENCH_DATA_PATH=memory|store` (or a command's
`--data-path`) overrides the choice; every record says which path its data took and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import MedbenchError

if TYPE_CHECKING:
    import torch

DATA_PATH_ENV = "MEDBENCH_DATA_PATH"
CHOICES = ("auto", "memory", "store")
MEMORY_SHARE = 0.25  # the rest is left for the model, its activations, the page cache and other processes


@dataclass(frozen=True)
class Placement:
    in_memory: bool
    why: str

    @property
    def name(self) -> str:
        return "memory" if self.in_memory else "store"


def data_path_choice() -> str:
    choice = os.environ.get(DATA_PATH_ENV, "auto") or "auto"
    if choice not in CHOICES:
        raise MedbenchError(f"{DATA_PATH_ENV}={choice!r}: choose one of {', '.join(CHOICES)}")
    return choice


def choose_data_path(ctx: Any, param: Any, value: str | None) -> None:
    """The `--data-path` option: sets MEDBENCH_DATA_PATH for this command and the jobs it starts."""
    if value is not None:
        os.environ[DATA_PATH_ENV] = value


def place(nbytes: int, device: "torch.device | None" = None) -> Placement:
    """In memory or in the store, for `nbytes` of pixels headed for `device` (host memory when None or CPU)."""
    choice = data_path_choice()
    size = f"{nbytes / 2**20:,.0f} MiB"
    if choice != "auto":
        return Placement(choice == "memory", f"{DATA_PATH_ENV}={choice} ({size})")
    on_gpu = device is not None and device.type == "cuda"
    if on_gpu:
        import torch  # noqa: PLC0415 - only GPU placement needs it

        room = torch.cuda.mem_get_info(device)[0]
    else:
        room = available_memory()
    where = "free GPU memory" if on_gpu else "available memory"
    fits = nbytes <= MEMORY_SHARE * room
    verdict = "within" if fits else "over"
    return Placement(fits, f"{size} of pixels, {verdict} {MEMORY_SHARE:.0%} of {room / 2**30:.1f} GiB {where}")


def available_memory() -> int:
    """Bytes this process may still take: MemAvailable, capped by what a cgroup (v1 or v2) limit leaves."""
    room = _meminfo_available()
    for limit_file, usage_file in _cgroup_files():
        try:
            limit = int(limit_file.read_text().split()[0])
            usage = int(usage_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        room = min(room, max(limit - usage + _inactive_file(usage_file.parent), 0))
    return room


def _inactive_file(cgroup: Path) -> int:
    """Page cache the kernel reclaims before it would kill anything (counted in a cgroup's usage): the
    convention of `docker stats`. A pass over a large stored dataset fills the cache, not the process."""
    try:
        stat = dict(line.split() for line in (cgroup / "memory.stat").read_text().splitlines())
    except (OSError, ValueError):
        return 0
    return int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _cgroup_files() -> list[tuple[Path, Path]]:
    """(limit, usage) files of this process's memory cgroup, v1 and v2."""
    files = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return files
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2 unified hierarchy
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            files.append((base / "memory.max", base / "memory.current"))
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            files.append((base / "memory.limit_in_bytes", base / "memory.usage_in_bytes"))
    return files

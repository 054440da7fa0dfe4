"""A sweep's grid: every (task, init, backbone, seed) under one protocol and one set of `run` options.

The sweep writes its grid to DIR/sweep.json, so `medbench status DIR` can tell a cell that never
started from one that is done, running or failed. A cell is run as `medbench run` of that one
cell, with the grid's regime (mode, label budget, image size) and speed flags; its record is named
by the regime's task plan (`harness.regimes.plan`), like any run's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import MedbenchError
from harness.regimes.regime import KNN_K, Regime
from harness.record import DEFAULT_MODE, FULL_BUDGET, SCHEMA_VERSION
from harness.results import write_json_atomic

if TYPE_CHECKING:
    from harness.regimes.plan import TaskPlan

GRID_FILE = "sweep.json"


@dataclass(frozen=True)
class SweepCell:
    task: str
    init: str
    backbone: str
    seed: int

    @property
    def label(self) -> str:
        return f"{self.task} {self.init} {self.backbone} seed={self.seed}"


@dataclass(frozen=True)
class Grid:
    inits: tuple[str, ...]
    backbones: tuple[str, ...]
    tasks: tuple[str, ...]
    protocol: str
    seeds: tuple[int, ...]
    stem: str | None = None
    data_dir: str | None = None
    device: str = "auto"
    mode: str = DEFAULT_MODE
    label_budget: int | None = None  # labels per class; None = every label
    image_size: int | None = None
    knn_k: int = KNN_K
    fast: bool = False
    compile: bool = False

    def cells(self) -> list[SweepCell]:
        return [SweepCell(task, init, backbone, seed) for task in self.tasks for init in self.inits
                for backbone in self.backbones for seed in self.seeds]

    def regime(self) -> Regime:
        return Regime(self.mode, self.label_budget, self.image_size, self.knn_k)

    def plan(self, cell: SweepCell) -> TaskPlan:
        """How `medbench run` evaluates the cell (size overrides included)."""
        from harness.protocols import PROTOCOLS
        from harness.regimes.plan import plan_task
        from harness.tasks import get_task

        return plan_task(get_task(cell.task), PROTOCOLS.get(self.protocol).with_overrides(stem=self.stem), self.regime(),
                         Path(self.data_dir) if self.data_dir else None)

    def record(self, out: Path, cell: SweepCell) -> Path:
        """The record `medbench run` writes for the cell: the regime's plan names it."""
        return self.plan(cell).record_path(out, cell.init, cell.backbone, cell.seed)

    def run_args(self, out: Path, cell: SweepCell) -> list[str]:
        """The `medbench run` arguments of one cell."""
        args = ["run", "--init", cell.init, "--backbone", cell.backbone, "--tasks", cell.task,
                "--protocol", self.protocol, "--seeds", str(cell.seed), "--out", str(out),
                "--device", self.device, "--mode", self.mode, "--knn-k", str(self.knn_k),
                "--label-budget", FULL_BUDGET if self.label_budget is None else str(self.label_budget), "--quiet"]
        optional = {"--stem": self.stem, "--data-dir": self.data_dir,
                    "--image-size": None if self.image_size is None else str(self.image_size)}
        args += [part for flag, value in optional.items() if value for part in (flag, value)]
        return args + [flag for flag, on in (("--fast", self.fast), ("--compile", self.compile)) if on]

    def describe(self) -> str:
        regime = f"; regime {self.regime().tag}" if self.regime().tag else ""
        return (f"{len(self.cells())} cells: tasks {', '.join(self.tasks)}; inits {', '.join(self.inits)}; "
                f"backbones {', '.join(self.backbones)}; protocol {self.protocol}; "
                f"seeds {', '.join(map(str, self.seeds))}{regime}")


def check_grid(grid: Grid) -> None:
    """Unknown names stop the sweep here, with the registry's suggestion, before any job starts."""
    from harness.inits import INIT_SOURCES
    from harness.inits.base import parse_init
    from harness.models import check_backbone
    from harness.protocols import PROTOCOLS
    from harness.tasks import get_task

    if not grid.cells():
        raise MedbenchError("the sweep's grid is empty; give at least one task, init, backbone and seed")
    PROTOCOLS.get(grid.protocol)
    for task in grid.tasks:
        get_task(task)
    for init in grid.inits:
        INIT_SOURCES.get(parse_init(init)[0])
    for backbone in grid.backbones:
        check_backbone(backbone)


def save_grid(out: Path, grid: Grid) -> None:
    """A records folder is read file by file; the schema version lets `medbench results` pass over the grid."""
    data = {"schema_version": SCHEMA_VERSION, "kind": "sweep-grid", **dataclasses.asdict(grid)}
    write_json_atomic(out / GRID_FILE, data)


def load_grid(out: Path) -> Grid | None:
    """The grid of the last sweep into `out`; None when no sweep wrote one."""
    path = out / GRID_FILE
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return Grid(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()
                       if key not in ("schema_version", "kind")})
    except (ValueError, TypeError) as exc:
        raise MedbenchError(f"{path} is not a sweep grid ({exc}); delete it or run the sweep again") from None

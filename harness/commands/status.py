"""`medbench status`: which cells of a sweep are done, running, failed or missing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from tabulate import tabulate

from harness.commands import user_errors


@click.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="List done cells too (they are only counted by default).")
@user_errors
def status(folder: Path, show_all: bool) -> None:
    """Cells of the sweep in FOLDER (its sweep.json) by state; without sweep.json, the records and claims it holds."""
    from harness.sweeps import STATES, folder_status
    from harness.sweeps.grid import GRID_FILE

    grid, cells = folder_status(folder)
    click.echo(f"sweep of {grid.describe()}" if grid else f"no {GRID_FILE} in {folder}: its records and running cells")
    counts = Counter(cell.state for cell in cells)
    click.echo("  ".join(f"{state} {counts[state]}" for state in STATES))
    shown = sorted((c for c in cells if show_all or c.state != "done"),
                   key=lambda c: (STATES.index(c.state), c.cell.label))
    rows = [(c.state, c.cell.task, c.cell.init, c.cell.backbone, c.cell.seed, c.detail) for c in shown]
    if rows:
        click.echo(tabulate(rows, headers=["state", "task", "init", "backbone", "seed", "detail"],
                            maxcolwidths=[None] * 5 + [80]))


COMMANDS = [status]

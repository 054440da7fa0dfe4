"""Where each cell of a results folder stands, read from its records and claims.

With a sweep.json the grid says which cells should exist, so never-started ones show as missing;
without one, the records and claims present are all there is to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.claims import claim_age, is_stale, read_claim
from harness.errors import MedbenchError
from harness.results import record_in
from harness.sweeps.grid import GRID_FILE, Grid, SweepCell, load_grid

STATES = ("done", "diverged", "failed", "running", "missing")


@dataclass(frozen=True)
class CellStatus:
    state: str
    cell: SweepCell
    detail: str = ""


def folder_status(out: Path) -> tuple[Grid | None, list[CellStatus]]:
    if not out.is_dir():
        raise MedbenchError(f"results folder {out} does not exist")
    grid = load_grid(out)
    claims = {out / path.relative_to(out / ".claims").with_suffix(".json"): path
              for path in (out / ".claims").rglob("*.claim") if ".weights" not in path.parts}
    if grid is not None:
        cells = {grid.record(out, cell): cell for cell in grid.cells()}
    else:
        found = [path for path in out.rglob("*.json")
                 if path.name != GRID_FILE and not any(part.startswith(".") for part in path.relative_to(out).parts)]
        rows = {path: _read(path) for path in sorted({*found, *claims})}
        cells = {path: _identity(path, row) for path, row in rows.items() if row is not NOT_A_RECORD}
    return grid, [_status(path, cell, claims.get(path)) for path, cell in cells.items()]


def _status(record_file: Path, cell: SweepCell, claim: Path | None) -> CellStatus:
    row = _read(record_file) or {}
    state = row.get("status")
    if state == "ok":
        return CellStatus("done", cell)
    if state == "diverged":
        return CellStatus("diverged", cell, str(row.get("error") or ""))
    holder, age = (read_claim(claim), claim_age(claim)) if claim is not None else (None, None)
    if age is not None and not is_stale(holder, age):
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "a worker"
        since = f" since {holder.get('started_at')}" if holder else ""
        return CellStatus("running", cell, f"{who}{since}; heartbeat {age:.0f} s ago")
    if state == "failed" or record_file.is_file():
        return CellStatus("failed", cell, str(row.get("error") or "unreadable record"))
    if age is not None:
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "a worker"
        return CellStatus("failed", cell, f"{who} stopped without writing a record (claim untouched for "
                                          f"{age / 60:.0f} min); the next sweep retries it")
    return CellStatus("missing", cell)


NOT_A_RECORD: dict[str, Any] = {}  # another JSON object in the folder (a sweep's grid)


def _read(path: Path) -> dict[str, Any] | None:
    """The record's row (the flattening `medbench results` and the leaderboard use); None when there is no readable
    record (a claim without one, a broken file: the cell's state says so)."""
    if not path.is_file():
        return None
    try:
        record = record_in(path)
    except MedbenchError:
        return None
    return NOT_A_RECORD if record is None else record.row(path)


def _identity(record_file: Path, row: dict[str, Any] | None) -> SweepCell:
    """A record's cell; without a readable record, read from the name `<task>/<init>__<backbone>__…__seed<N>`."""
    if row is not None:
        return SweepCell(row["task"], row["init"], row["backbone"], row["seed"])
    parts = record_file.stem.split("__")
    seed = parts[-1].removeprefix("seed")
    return SweepCell(record_file.parent.name, parts[0], parts[1] if len(parts) > 2 else "?",
                     int(seed) if seed.isdigit() else -1)

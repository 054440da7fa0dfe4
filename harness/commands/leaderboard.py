"""`medbench leaderboard build | export | publish`: static HTML leaderboards from result records."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from harness.commands import parse_seeds, user_errors

if TYPE_CHECKING:
    from harness.leaderboard import Board


def _board(results: Path, definition: str | None, protocol: str | None, seeds: str | None) -> "Board":
    from harness.leaderboard import build_board, load_definition

    seed_list = parse_seeds(seeds) if seeds else None
    return build_board(results, load_definition(definition) if definition else None, protocol=protocol, seeds=seed_list)


_shared = [
    click.option("--results", type=click.Path(path_type=Path), default=Path("results"), show_default=True,
                 help="Folder of result records (searched recursively)."),
    click.option("--definition", default=None,
                 help="A leaderboard YAML (path, or a name in leaderboards/); default: everything in --results."),
    click.option("--protocol", default=None, help="Rank this protocol's records (default: the definition's, else the most common)."),
    click.option("--seeds", default=None, help="Comma-separated seeds a cell needs to be ranked, and the only ones used (default: the protocol's "
                 "declared seeds plus every other seed the cell ran)."),
]


def _with_shared(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_shared):
        command = option(command)
    return command


@click.group()
def leaderboard() -> None:
    """Static HTML leaderboards, exports and publishing, built from result records."""


@leaderboard.command("build")
@_with_shared
@click.option("--out", type=click.Path(path_type=Path), default=Path("site"), show_default=True,
              help="Site folder; replaced whole on every build (only if it is a medbench site or empty).")
@user_errors
def build(results: Path, definition: str | None, protocol: str | None, seeds: str | None, out: Path) -> None:
    """Build the site: overview, a page per task and per init/submission, efficiency plots, CSV/JSON downloads."""
    from harness.leaderboard import build_site

    board = _board(results, definition, protocol, seeds)
    for note in board.notes:
        click.echo(f"note: {note}", err=True)
    index = build_site(board, out)
    click.echo(f"built {len(board.rank_metric)} task(s), {len(board.entries)} init source(s) from {len(board.runs)} record(s)")
    click.echo(str(index.resolve()))


@leaderboard.command("export")
@_with_shared
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json"]), default="md", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write to this file (default: stdout).")
@user_errors
def export(results: Path, definition: str | None, protocol: str | None, seeds: str | None, fmt: str, out: Path | None) -> None:
    """The aggregated table as Markdown (for READMEs and papers), CSV or JSON."""
    from harness.atomic import write_text_atomic
    from harness.leaderboard.export import WRITERS

    text = WRITERS[fmt](_board(results, definition, protocol, seeds))
    if out is None:
        click.echo(text, nl=False)
    else:
        write_text_atomic(out, text)
        click.echo(f"wrote {out}", err=True)


@leaderboard.command("publish")
@click.argument("site", type=click.Path(path_type=Path))
@click.option("--to", "target", type=(click.Choice(["dir", "hf"]), str), required=True, metavar="dir PATH | hf ORG/NAME",
              help="A folder (e.g. for GitHub Pages) or a Hugging Face repo.")
@click.option("--repo-type", type=click.Choice(["space", "dataset"]), default="space", show_default=True,
              help="For --to hf: a static Space (served as a website) or a dataset repo.")
@user_errors
def publish(site: Path, target: tuple[str, str], repo_type: str) -> None:
    """Copy a built site to a folder, or upload it to a Hugging Face static Space or dataset repo."""
    from harness.leaderboard.publish import publish_to_dir, publish_to_hf

    kind, where = target
    click.echo(publish_to_dir(site, Path(where)) if kind == "dir" else publish_to_hf(site, where, repo_type))


COMMANDS = [leaderboard]

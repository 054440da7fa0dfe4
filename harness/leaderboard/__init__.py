"""Static HTML leaderboards from result records: definition → aggregate (pandas) → render (jinja2) → publish."""

from harness.leaderboard.aggregate import Board, build_board
from harness.leaderboard.definition import Definition, load_definition
from harness.leaderboard.render import build_site

__all__ = ["Board", "Definition", "build_board", "build_site", "load_definition"]

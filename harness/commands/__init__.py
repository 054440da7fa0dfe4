"""Click command groups that live beside `harness.cli` (one module per group, each exporting
`COMMANDS`), and the helpers every command shares."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Callable

import click

from harness.diskerrors import disk_error
from harness.errors import MedbenchError


def split_list(value: tuple[str, ...] | str | None) -> list[str]:
    items = value if isinstance(value, tuple) else (value,) if value else ()
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a MedbenchError (or a full / read-only disk) into one line on stderr and exit status 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MedbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:
            problem = disk_error(exc)
            if problem is None:
                raise
            click.echo(f"error: {problem}", err=True)
            sys.exit(2)

    return wrapper


INTERRUPTED_EXIT = 130  # what a shell reports for a process stopped by SIGINT


def resumes_on_rerun(command: Callable[..., Any]) -> Callable[..., Any]:
    """Ctrl-C in a long command: one line saying what is kept and that the same command resumes."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            click.echo("interrupted: finished runs are kept, and a run in progress keeps its last finished epoch; "
                       "run the same command again to resume", err=True)
            sys.exit(INTERRUPTED_EXIT)

    return wrapper


def exit_if_runs_not_ok(paths: Iterable[Path]) -> None:
    """After a whole grid has run: exit 3 with one line when any run failed or diverged."""
    from harness.results import RUNS_NOT_OK_EXIT, runs_not_ok

    summary = runs_not_ok(paths)
    if summary is not None:
        click.echo(f"error: {summary}", err=True)
        sys.exit(RUNS_NOT_OK_EXIT)


def parse_seeds(text: str) -> tuple[int, ...]:
    """Distinct whole numbers in 0..2**32-1 (what numpy and torch accept as seeds), at least one."""
    try:
        seeds = tuple(int(s) for s in split_list(text))
    except ValueError:
        raise MedbenchError(f"--seeds must be comma-separated whole numbers like 0,1,2, got {text!r}") from None
    if not seeds:
        raise MedbenchError(f"--seeds names no seed ({text!r}); give comma-separated whole numbers like 0,1,2")
    bad = next((s for s in seeds if not 0 <= s < 2**32), None)
    if bad is not None:
        raise MedbenchError(f"--seeds: {bad} is not a seed; seeds are whole numbers from 0 to {2**32 - 1}")
    if len(set(seeds)) != len(seeds):
        raise MedbenchError(f"--seeds repeats a seed ({text!r}); each seed is run once")
    return seeds

"""Click command groups that live beside `harness.cli` (one module per group, each exporting
`COMMANDS`), and the helpers every command shares."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click

from harness.errors import MedbenchError


def split_list(value: tuple[str, ...] | str | None) -> list[str]:
    items = value if isinstance(value, tuple) else (value,) if value else ()
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a MedbenchError into one line on stderr and exit status 2 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MedbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(s) for s in split_list(text))
    except ValueError:
        raise MedbenchError(f"--seeds must be comma-separated integers, got {text!r}") from None

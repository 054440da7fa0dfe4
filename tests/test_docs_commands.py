"""Every `medbench …` command shown in README.md and docs/ parses against the real command line: a renamed
option or command breaks this test, not a reader's first try. Parsing runs click's own checks (names,
choices, types), not the command."""

import re
import shlex
from pathlib import Path

import click
import pytest

from harness.cli import main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SHELL = {"", "bash", "sh", "shell", "console"}  # fence languages whose lines are commands
ENV = re.compile(r"^[A-Z_][A-Z0-9_]*=\S*$")


def shell_lines(text: str) -> list[str]:
    """The lines of the page's shell code blocks, continuation lines joined."""
    lines, language = [], None  # None: outside a fence
    for line in text.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("```"):
            language = line.strip().removeprefix("```").strip() if language is None else None
        elif language in SHELL:
            lines.append(line.strip())
    return lines


def shown_commands(text: str) -> list[str]:
    """`medbench …` lines of the page's shell blocks: comments, prompts, continuations and `…` elisions handled."""
    found = []
    for line in shell_lines(text):
        if "medbench" in line or "-m harness" in line:
            words = shlex.split(line.removeprefix("$ "), comments=True)
            while words and ENV.match(words[0]):  # VAR=value medbench …
                words = words[1:]
            if words[:1] == ["medbench"]:
                found.append(" ".join(shlex.quote(w) for w in words[1:] if w != "…"))
            elif "harness" in words and words[words.index("harness") - 1] == "-m":  # python -m harness / torchrun
                found.append(" ".join(shlex.quote(w) for w in words[words.index("harness") + 1:] if w != "…"))
    return found


def parse(args: list[str]) -> None:
    """Resolve groups down to the command and parse its arguments, as `medbench` would before running it."""
    command, name = main, "medbench"
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(click.Context(command, info_name=name), args[0])
        if sub is None:
            raise click.UsageError(f"`{name}` has no command {args[0]!r}")
        command, name, args = sub, args[0], args[1:]
    command.make_context(name, args)


COMMANDS = [(page.relative_to(REPO).as_posix(), command) for page in PAGES for command in shown_commands(page.read_text())]


def test_the_docs_show_commands():
    assert len(COMMANDS) > 40 and {page for page, _ in COMMANDS} >= {"README.md", "docs/plugins.md", "docs/scaling.md"}


@pytest.mark.parametrize("page, command", COMMANDS, ids=[f"{p}: {c[:60]}" for p, c in COMMANDS])
def test_every_command_in_the_docs_parses(page: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    try:
        parse(shlex.split(command))
    except click.exceptions.Exit:  # --help, --version
        pass
    except click.BadParameter as exc:
        if "does not exist" not in exc.format_message():  # a file only the reader has: the option itself parsed
            pytest.fail(f"{page}: `medbench {command}` does not parse: {exc.format_message()}")
    except click.UsageError as exc:
        pytest.fail(f"{page}: `medbench {command}` does not parse: {exc.format_message()}")

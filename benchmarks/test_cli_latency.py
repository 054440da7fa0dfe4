"""How long a newcomer waits for the answers that need no model: help, the task listing, a typo, status.

Each command runs as its own process (interpreter start and imports included), 5 rounds; the median
is the figure. The claim (issue 20): each under 1 s on a quiet 2-core machine, because none of them
imports torch, timm or pandas.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MEDBENCH = Path(sys.executable).with_name("medbench")

COMMANDS = {
    "help": ["--help"],
    "tasks-list": ["tasks", "list"],
    "task-typo": ["run", "--tasks", "synth-xray-clss"],
    "status": ["status", "{results}"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_cli_answer_time(benchmark, name: str, tmp_path: Path):
    args = [arg.format(results=tmp_path) for arg in COMMANDS[name]]
    (tmp_path / "synth-xray-cls").mkdir()

    def answer() -> int:
        return subprocess.run([str(MEDBENCH), *args], capture_output=True, timeout=60).returncode

    code = benchmark.pedantic(answer, rounds=5, iterations=1, warmup_rounds=1)
    assert code == (2 if name == "task-typo" else 0)
    benchmark.extra_info["median_s"] = benchmark.stats.stats.median

"""The grid's progress line: which run of how many, and a time estimate once one run has finished."""

from __future__ import annotations

import pytest

from harness import gridprogress
from harness.gridprogress import GridProgress


def test_runs_are_counted_and_the_rest_estimated_from_the_mean_so_far(monkeypatch: pytest.MonkeyPatch):
    clock = iter([100.0, 200.0])
    monkeypatch.setattr(gridprogress.time, "monotonic", lambda: next(clock))
    grid = GridProgress(total=12, started=0.0)
    assert grid.starting("a scratch resnet18 seed=0") == "run 1 of 12: a scratch resnet18 seed=0"
    grid.finished()
    assert grid.starting("b") == "run 2 of 12: b (about 18 min left for the rest)"  # 11 runs × 100 s
    grid.finished()
    assert grid.starting("c") == "run 3 of 12: c (about 17 min left for the rest)"  # 10 × 100 s


@pytest.mark.parametrize("seconds, text", [(0.2, "1 s"), (45, "45 s"), (600, "10 min"), (3 * 3600, "3.0 h")])
def test_durations_read_naturally(seconds: float, text: str):
    assert gridprogress._duration(seconds) == text

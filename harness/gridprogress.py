"""Where a grid of runs stands, in words: "run 3 of 12 … about 4 min left"."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class GridProgress:
    """Counts the runs of one `medbench run` grid; the estimate is the mean time of the runs done so far."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def starting(self, what: str) -> str:
        return f"run {self.done + 1} of {self.total}: {what}{self._left()}"

    def finished(self) -> None:
        self.done += 1

    def _left(self) -> str:
        if not self.done:
            return ""
        per_run = (time.monotonic() - self.started) / self.done
        return f" (about {_duration(per_run * (self.total - self.done))} left for the rest)"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"

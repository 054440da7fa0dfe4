"""Which tasks a submission is scored on: `embedded` (tasks tagged embedded) or a leaderboard's tasks.

Any other `--suite NAME` is a leaderboard definition (`leaderboards/NAME.yaml`, e.g. `standard`,
read by harness.leaderboard.definition): its tasks, and its protocol as the default for scoring,
so a submission's records land on that leaderboard.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.tasks import TaskSpec, get_task, tasks_tagged

EMBEDDED = "embedded"


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[TaskSpec, ...]
    protocol: str | None  # the leaderboard's protocol; None when the suite does not fix one


def load_suite(name: str) -> Suite:
    if name == EMBEDDED:
        return Suite(name, tuple(tasks_tagged(EMBEDDED)), None)
    from harness.leaderboard.definition import load_definition

    definition = load_definition(name)
    return Suite(name, tuple(get_task(task) for task in definition.tasks), definition.protocol)

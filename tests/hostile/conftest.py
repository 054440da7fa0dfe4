"""The hostile-input corpus (issue 17): every case is marked `hostile_case(risk, issue)`, and the session
ends with one tally line, printed by `tests.hostile.tally` (a plugin loaded from pyproject.toml, so the
xdist controller, which loads no conftest below tests/, prints it too). A failing case counts as
`traceback` when it raised anything but an assertion, else under the risk it guards."""

from __future__ import annotations

from typing import Any

import pytest

RISKS = ("dangerous", "traceback", "silent")


def case(id: str, *values: Any, risk: str, issue: bool = True) -> Any:
    """One corpus case: `risk` is what it would be if it failed (dangerous | traceback | silent);
    `issue`: listed in issue 17, else added."""
    assert risk in RISKS, risk
    return pytest.param(*values, id=id, marks=pytest.mark.hostile_case(risk=risk, issue=issue))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hostile_case(risk, issue): a case of the hostile-input corpus (tests/hostile)")

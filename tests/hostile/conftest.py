"""The hostile-input corpus (issue 17): every case is marked `hostile_case(risk, issue)`, and the session ends
with one tally line. A failing case counts as `traceback` when it raised anything but an assertion (an
unexpected exception reached the user), else under the risk it guards: dangerous or silently wrong."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

RISKS = ("dangerous", "traceback", "silent")
_outcomes: dict[str, tuple[bool, str]] = {}  # nodeid → (from issue 17, "" when it passed, else the failure's class)


def case(id: str, *values: Any, risk: str, issue: bool = True) -> Any:
    """One corpus case: `risk` is what it would be if it failed (dangerous | traceback | silent);
    `issue`: listed in issue 17, else added."""
    assert risk in RISKS, risk
    return pytest.param(*values, id=id, marks=pytest.mark.hostile_case(risk=risk, issue=issue))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hostile_case(risk, issue): a case of the hostile-input corpus (tests/hostile)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Label the report of a corpus case (in the process that ran it: an xdist worker sends the label on)."""
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("hostile_case")
    if marker is None or report.skipped or (report.when != "call" and not report.failed):
        return
    failure = ""
    if report.failed:
        raised = call.excinfo.type if call.excinfo is not None else None
        failure = marker.kwargs["risk"] if raised is AssertionError else "traceback"
    report.hostile_case = {"issue": marker.kwargs.get("issue", True), "failure": failure}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Tally in the process that prints the summary (the xdist controller, or the only one)."""
    label = getattr(report, "hostile_case", None)
    if label is not None and not _outcomes.get(report.nodeid, (True, ""))[1]:  # a failure is never overwritten
        _outcomes[report.nodeid] = (label["issue"], label["failure"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _outcomes:
        return
    from_issue = sum(1 for issue, _ in _outcomes.values() if issue)
    failed = Counter(failure for _, failure in _outcomes.values() if failure)
    terminalreporter.write_line(
        f"hostile corpus: {len(_outcomes)} cases ({from_issue} from issue 17's classes, {len(_outcomes) - from_issue} "
        f"added), {failed['dangerous']} dangerous, {failed['traceback']} tracebacks, {failed['silent']} silently wrong")

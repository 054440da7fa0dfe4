"""The hostile corpus's tally line, as a plugin (`-p tests.hostile.tally` in pyproject.toml): under xdist the
controller collects nothing, so a conftest in tests/hostile never sees the reports there."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

_outcomes: dict[str, tuple[bool, str]] = {}  # nodeid → (from issue 17, "" when it passed, else the failure's class)


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

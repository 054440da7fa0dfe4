"""Shared fixtures: an isolated MEDBENCH_HOME, the team's real data folder, and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from harness.skips import SKIP_ENV

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MEDBENCH = Path(sys.executable).with_name("medbench")

# No test checks inference speed, Grad-CAMs or a run's copy audit unless it asks for them (the `full_work`
# fixture): together they cost more CPU than the smoke training they follow. Set in os.environ, so `medbench` subprocesses inherit it;
# records made so say it in provenance.skipped_work. `MEDBENCH_SKIP= pytest` runs everything in full.
os.environ.setdefault(SKIP_ENV, "inference-timing,cams,data-audit")

# Under pytest-xdist the workers share the cores: each (and each `medbench` it starts) gets its share of threads,
# so that two workers do not run four busy-waiting OpenMP threads on two cores.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_threads))
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


SMOKE_CELL = ["run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "smoke", "--tasks", "synth-xray-cls",
              "--quiet"]


def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MEDBENCH_HOME of this test session (of this xdist worker): generated data are cached once per session."""
    return Path(os.environ.get("MEDBENCH_TEST_HOME") or tmp_path_factory.getbasetemp() / "medbench-home")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Generated data are cached per test session, never in the user's ~/.cache."""
    home = session_home(tmp_path_factory)
    monkeypatch.setenv("MEDBENCH_HOME", str(home))
    return home


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test run's temporary folder: under xdist, the one above the workers' own (for what they share)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


def made_once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]) -> Path:
    """The folder `name` that `make(folder)` fills once for the whole test run: xdist workers wait on one file lock,
    and a marker written after `make` returns says the folder is complete."""
    from filelock import FileLock

    root = run_root(tmp_path_factory)
    out, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.is_file():
            with pytest.MonkeyPatch.context() as patch:  # session fixtures start before isolated_home
                patch.setenv("MEDBENCH_HOME", str(session_home(tmp_path_factory)))
                make(out)
            done.touch()
    return out


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke cell (scratch / resnet18 / synth-xray-cls) trained once per test run, in process, for every test
    that reads a real record: seed 0 in full (inference timing, Grad-CAMs, as a user's run), seed 1 with the
    test skips. Treat it as read-only; copy it (shutil.copytree) before running into it."""
    def train(out: Path) -> None:
        invoke(*SMOKE_CELL, "--seeds", "0", "--out", str(out), env={SKIP_ENV: ""})
        invoke(*SMOKE_CELL, "--seeds", "1", "--out", str(out))

    return made_once_per_run(tmp_path_factory, "smoke-results", train)


@pytest.fixture(scope="session")
def cpmid_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded cpmid-synth set (minutes to build: the copy screen), built once for the whole test run.
    Read-only; tests that pretrain on it link it into their MEDBENCH_HOME (`link_cpmid_synth`). Its tests share
    one file so that one worker runs them."""
    from harness.cpmid import build_cpmid

    return made_once_per_run(tmp_path_factory, "cpmid-synth",
                             lambda out: build_cpmid("cpmid-synth", out, progress=lambda _: None))


def link_cpmid_synth(cpmid_synth: Path, home: Path) -> None:
    """Make the session's cpmid-synth set the one `medbench pretrain` finds under MEDBENCH_HOME=home."""
    (home / "cpmid").mkdir(parents=True, exist_ok=True)
    (home / "cpmid" / "cpmid-synth").symlink_to(cpmid_synth, target_is_directory=True)


@pytest.fixture
def full_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test that checks inference timing, CAMs or a run's data audit: nothing is skipped (in process and in subprocesses)."""
    monkeypatch.delenv(SKIP_ENV, raising=False)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"the team's real data folder {SHARED_DATA} is absent (it sits beside the repo in CI)")
    return SHARED_DATA


def run_cli(*args: str, env: dict[str, str] | None = None, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the installed `medbench` command as a user would."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([str(MEDBENCH), *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"medbench {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def invoke(*args: str, env: dict[str, str] | None = None, check: bool = True, input: str | None = None):
    """Run `medbench ARGS` in process with click's CliRunner (fast: no interpreter start, no torch re-import).

    Unexpected exceptions propagate (`catch_exceptions=False`), so a traceback fails the test; the result
    has `.exit_code`, `.stdout` and `.stderr` (and `.returncode`, like a finished subprocess).
    """
    from click.testing import CliRunner

    from harness.cli import main

    result = CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    result.returncode = result.exit_code
    if check and result.exit_code != 0:
        raise AssertionError(f"medbench {' '.join(args)} failed ({result.exit_code}):\n{result.stdout}\n{result.stderr}")
    return result


def read_records(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))]


def learned(history: list[dict]) -> list[dict]:
    """A record's per-epoch history without its clock readings (`train_seconds`): what a rerun must repeat."""
    return [{k: v for k, v in epoch.items() if k != "train_seconds"} for epoch in history]


def assert_one_line_error(proc, *fragments: str) -> None:
    """A user error: non-zero exit, one `error:` line naming the problem, no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with tests on the cpmid-synth set first: its build is the longest single step, so under xdist
    it starts while the other workers run everything else. Then the files holding `slow` tests, so that
    no long file is handed out last while the other worker idles. Files move whole: the tests inside a
    file keep their order (some share a module fixture's state in that order)."""
    builds, slow = set(), set()
    for item in items:
        if "cpmid_synth" in getattr(item, "fixturenames", ()):
            builds.add(item.path)
        if item.get_closest_marker("slow") is not None:
            slow.add(item.path)
    items.sort(key=lambda item: (item.path not in builds, item.path not in slow))

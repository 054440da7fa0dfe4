"""Hostile results folders, names in CSV exports, leaderboard definitions, publish targets, seeds, full disks,
and grids whose runs fail. In process (`invoke`), on records written by `tests.test_leaderboard_records`."""

from __future__ import annotations

import csv
import errno
import io
import json
from pathlib import Path
from typing import Any

import pytest

from harness.csvsafe import FORMULA_STARTS
from harness.results import record_path, write_json_atomic
from harness.submissions.text import normalised
from tests.conftest import assert_one_line_error, invoke
from tests.hostile.conftest import case
from tests.test_leaderboard_records import TASKS, make_record, write_results

SEEDS = (0, 1, 2)


def _records(folder: Path, **names: str) -> Path:
    """Three seeds of one hostile entry beside three of scratch, on one task."""
    hostile = [make_record(TASKS[0], names.get("init", "scratch"), names.get("backbone", "resnet18"), seed)
               for seed in SEEDS]
    for record in hostile:  # names a task card can no longer carry; records from elsewhere can
        record.update({key: value for key, value in names.items() if key in ("task", "init", "backbone")})
    plain = [make_record(TASKS[0], "scratch", "resnet18", seed) for seed in SEEDS]
    for record in hostile + plain:
        write_json_atomic(folder / f"{abs(hash((record['task'], record['init'], record['backbone'])))}-{record['seed']}.json",
                          record)
    return folder


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


FORMULAS = [
    case("csv-init-equals", {"init": "=HYPERLINK(\"http://x\",\"y\")"}, risk="dangerous"),
    case("csv-init-plus", {"init": "+1+cmd|' /C calc'!A0"}, risk="dangerous"),
    case("csv-backbone-minus", {"backbone": "-2+3"}, risk="dangerous"),
    case("csv-init-at", {"init": "@SUM(1+1)"}, risk="dangerous"),
    case("csv-init-tab", {"init": "\t=1+1"}, risk="dangerous", issue=False),
    case("csv-init-cr", {"init": "\r=1+1"}, risk="dangerous", issue=False),
    case("csv-task-equals", {"task": "=1+1"}, risk="dangerous"),
]


def _assert_inert(text: str, payload: str) -> None:
    cells = _cells(text)
    assert any(cell == "'" + payload for cell in cells), (payload, text[:400])
    assert not any(cell.startswith(FORMULA_STARTS) and not _number(cell) for cell in cells)


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("names", FORMULAS)
def test_results_csv_escapes_formula_names(tmp_path: Path, names: dict[str, str]):
    folder = _records(tmp_path / "results", **names)
    invoke("results", str(folder), "--csv", str(tmp_path / "out.csv"))
    with open(tmp_path / "out.csv", newline="") as handle:  # keep a carriage return inside a cell as it is
        _assert_inert(handle.read(), next(iter(names.values())))


@pytest.mark.parametrize("names", [p for p in FORMULAS if "task" not in p.values[0]])
def test_leaderboard_csv_export_escapes_formula_names(tmp_path: Path, names: dict[str, str]):
    folder = _records(tmp_path / "results", **names)
    text = invoke("leaderboard", "export", "--results", str(folder), "--format", "csv").stdout
    _assert_inert(text, next(iter(names.values())))


@pytest.mark.parametrize("names", [case("site-csv-init-equals", {"init": "=HYPERLINK(\"http://x\")"}, risk="dangerous")])
def test_the_site_csv_download_escapes_formula_names(tmp_path: Path, names: dict[str, str]):
    folder = _records(tmp_path / "results", **names)
    invoke("leaderboard", "build", "--results", str(folder), "--out", str(tmp_path / "site"))
    _assert_inert((tmp_path / "site" / "data" / "leaderboard.csv").read_text(), names["init"])


@pytest.mark.parametrize("content, message", [
    case("json-list", "[1, 2, 3]", "holds a JSON list", risk="traceback"),
    case("json-string", "\"a record\"", "holds a JSON str", risk="traceback", issue=False),
    case("json-null", "null", "holds a JSON NoneType", risk="traceback", issue=False),
    case("json-number", "3", "holds a JSON int", risk="traceback", issue=False),
    case("not-json", "{not json", "not a readable result record", risk="traceback", issue=False),
    case("binary", "\udcff\udcfe", "not a readable result record", risk="traceback", issue=False),
    case("schema-from-the-future", json.dumps({"schema_version": 99, "task": "x", "metrics": {}}), "schema_version 99",
         risk="silent", issue=False),
    case("schema-missing", json.dumps({"task": "x", "metrics": {}}), "schema_version None", risk="silent", issue=False),
])
def test_a_broken_file_in_a_results_folder_is_named(tmp_path: Path, content: str, message: str):
    folder = _records(tmp_path / "results")
    (folder / "x.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    assert_one_line_error(invoke("results", str(folder), check=False), "x.json", message)
    assert_one_line_error(invoke("leaderboard", "export", "--results", str(folder), check=False), "x.json", message)


@pytest.mark.parametrize("value", [
    case("metric-nan", "NaN", risk="silent"),
    case("metric-infinity", "Infinity", risk="silent"),
    case("metric-minus-infinity", "-Infinity", risk="silent", issue=False),
])
def test_a_record_with_a_non_finite_metric_is_refused(tmp_path: Path, value: str):
    folder = _records(tmp_path / "results")
    path = sorted(folder.glob("*.json"))[0]
    record = json.loads(path.read_text())
    record["metrics"]["auroc"] = 0.123456789
    path.write_text(json.dumps(record).replace("0.123456789", value))
    result = invoke("results", str(folder), check=False)
    assert_one_line_error(result, path.name, f"{value} is not a number a record may hold")


@pytest.mark.parametrize("seeds, message", [
    case("seeds-empty-list", ",,", "names no seed", risk="silent"),
    case("seeds-negative", "-1", "-1 is not a seed", risk="silent"),
    case("seeds-too-large", "4294967296", "is not a seed", risk="silent", issue=False),
    case("seeds-text", "one", "comma-separated whole numbers", risk="traceback", issue=False),
    case("seeds-repeated", "0,0", "repeats a seed", risk="silent", issue=False),
    case("seeds-float", "0.5", "comma-separated whole numbers", risk="silent", issue=False),
])
def test_bad_seeds_are_refused_before_anything_runs(tmp_path: Path, seeds: str, message: str):
    for command in (("run", "--tasks", TASKS[0], "--out", str(tmp_path / "out")),
                    ("leaderboard", "export", "--results", str(tmp_path))):
        assert_one_line_error(invoke(*command, "--seeds", seeds, check=False), "--seeds", message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("metric, message", [
    case("definition-unknown-metric", "{name: sensitivity, direction: higher}", "unknown metric 'sensitivity'",
         risk="silent"),
    case("definition-typo-metric", "{name: aurok}", "did you mean auroc", risk="silent", issue=False),
    case("definition-wrong-direction", "{name: ece, direction: higher}", "is better lower", risk="silent", issue=False),
    case("definition-bad-direction", "{name: auroc, direction: up}", "direction must be higher or lower", risk="silent",
         issue=False),
])
def test_a_leaderboard_definition_names_only_catalogue_metrics(tmp_path: Path, metric: str, message: str):
    definition = tmp_path / "mine.yaml"
    definition.write_text(f"title: Mine\ntasks: [{TASKS[0]}]\nprotocol: quick\nmetrics:\n  - {metric}\n")
    result = invoke("leaderboard", "build", "--results", str(_records(tmp_path / "results")), "--definition",
                    str(definition), "--out", str(tmp_path / "site"), check=False)
    assert_one_line_error(result, "mine.yaml", message)
    assert not (tmp_path / "site").exists()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-site")
    write_results(folder / "results", [make_record(TASKS[0], init, "resnet18", seed)
                                       for init in ("scratch", "imagenet") for seed in SEEDS])
    invoke("leaderboard", "build", "--results", str(folder / "results"), "--out", str(folder / "site"))
    return folder / "site"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("foreign", [
    case("publish-keeps-git-and-cname", {".git/HEAD": "ref: refs/heads/gh-pages\n", "CNAME": "bench.example.org\n"},
         risk="dangerous"),
    case("publish-keeps-user-readme", {"README.md": "mine\n", "task/notes.txt": "mine too\n"}, risk="dangerous",
         issue=False),
])
def test_publishing_again_keeps_what_medbench_did_not_write(site: Path, tmp_path: Path, foreign: dict[str, str]):
    target = tmp_path / "pages"
    invoke("leaderboard", "publish", str(site), "--to", "dir", str(target))
    for rel, text in foreign.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(text)
    invoke("leaderboard", "publish", str(site), "--to", "dir", str(target))
    tree = _tree(target)
    assert all(tree[rel] == text.encode() for rel, text in foreign.items())
    assert {rel: data for rel, data in tree.items() if rel not in foreign and rel != ".medbench-site"} == \
        {rel: data for rel, data in _tree(site).items() if rel != ".medbench-site"}


@pytest.mark.parametrize("prepare, message", [
    case("publish-into-a-git-checkout", {".git/HEAD": "ref\n", "index.html": "mine"}, "is not a medbench site",
         risk="dangerous"),
    case("publish-over-a-user-file", {"efficiency.html": "mine"}, "was not written by medbench", risk="dangerous",
         issue=False),
])
def test_publishing_refuses_to_overwrite_files_it_did_not_write(site: Path, tmp_path: Path,
                                                                 prepare: dict[str, str], message: str):
    target = tmp_path / "pages"
    if "efficiency.html" in prepare:  # an earlier build, then a user's file where the next build writes
        invoke("leaderboard", "publish", str(site), "--to", "dir", str(target))
        manifest = json.loads((target / ".medbench-site").read_text())
        (target / ".medbench-site").write_text(json.dumps({**manifest, "files": [
            f for f in manifest["files"] if f != "efficiency.html"]}))
    for rel, text in prepare.items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(text)
    before = _tree(target)
    assert_one_line_error(invoke("leaderboard", "publish", str(site), "--to", "dir", str(target), check=False), message)
    assert _tree(target) == before


@pytest.mark.parametrize("code, message", [
    case("disk-full-writing-csv", errno.ENOSPC, "the disk is full", risk="silent"),
    case("read-only-out", errno.EROFS, "the file system is read-only", risk="traceback"),
    case("quota-exceeded", errno.EDQUOT, "the disk quota is exceeded", risk="traceback", issue=False),
])
def test_a_disk_that_cannot_be_written_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int,
                                                message: str):
    folder = _records(tmp_path / "results")
    (tmp_path / "out.csv").write_text("earlier\n")

    def refuse(fd: int) -> None:
        raise OSError(code, "simulated")

    monkeypatch.setattr("harness.atomic.os.fsync", refuse)
    result = invoke("results", str(folder), "--csv", str(tmp_path / "out.csv"), check=False)
    assert_one_line_error(result, f"{tmp_path / 'out.csv'}: {message}")
    assert (tmp_path / "out.csv").read_text() == "earlier\n"  # nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "results"]  # no temp file left


@pytest.mark.parametrize("statuses, summary", [
    case("one-run-failed", ("ok", "failed"), "1 of 2 runs did not finish ok", risk="silent"),
    case("one-run-diverged", ("diverged", "ok", "ok"), "1 of 3 runs did not finish ok", risk="silent"),
    case("every-run-failed", ("failed", "failed"), "2 of 2 runs did not finish ok", risk="silent", issue=False),
])
def test_a_grid_with_failed_runs_exits_3_after_finishing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          statuses: tuple[str, ...], summary: str):
    """`medbench run` finishes every cell, then exits 3 with one line naming what failed and why."""
    out = tmp_path / "out"

    def fake_grid(tasks: list[Any], inits: list[str], backbones: list[str], protocol: Any, seeds: Any, out_: Path,
                  *args: Any, **kwargs: Any) -> list[Path]:
        written = []
        for seed, status in enumerate(statuses):
            record = make_record(TASKS[0], "scratch", "resnet18", seed, status=status)
            path = record_path(out_, TASKS[0], "scratch", "resnet18", "quick", seed)
            write_json_atomic(path, record)
            written.append(path)
        return written

    monkeypatch.setattr("harness.runner.run_grid", fake_grid)
    result = invoke("run", "--tasks", TASKS[0], "--seeds", ",".join(map(str, range(len(statuses)))), "--out", str(out),
                    check=False)
    assert result.exit_code == 3
    assert_one_line_error(result, summary, f"{TASKS[0]} scratch resnet18 seed=")
    if "failed" in statuses:
        assert "RuntimeError: boom" in result.stderr
    assert len(list(out.rglob("*.json"))) == len(statuses)


@pytest.mark.parametrize("name", [
    case("confusable-cyrillic", "Му Lаb ResNet-50", risk="dangerous"),
    case("confusable-greek", "Μy Lab ResΝet-50", risk="dangerous", issue=False),
    case("invisible-tag-characters", "My Lab\U000E0041\U000E0042 ResNet-50", risk="dangerous"),
    case("zero-width-joiner", "My\u200d Lab Res\u200bNet-50", risk="dangerous", issue=False),
    case("fullwidth-digits", "My Lab ResNet-５０", risk="dangerous", issue=False),
    case("mathematical-bold", "𝐌𝐲 Lab ResNet-50", risk="dangerous", issue=False),
])
def test_look_alike_submission_names_fold_to_the_same_skeleton(name: str):
    assert normalised(name) == normalised("My Lab ResNet-50") == "mylabresnet50"


def test_distinct_names_stay_distinct():
    assert normalised("Müller ResNet") != normalised("Muller ResNet-2")


def _failed_grid(out: Path) -> list[Path]:
    paths = []
    for seed, status in enumerate(("ok", "failed")):
        path = record_path(out, TASKS[0], "scratch", "resnet18", "quick", seed)
        write_json_atomic(path, make_record(TASKS[0], "scratch", "resnet18", seed, status=status))
        paths.append(path)
    return paths


@pytest.mark.parametrize("command", [
    case("sweep-with-a-failed-job", "sweep", risk="silent", issue=False),
    case("submit-run-with-a-failed-run", "submit", risk="silent", issue=False),
])
def test_sweep_and_submit_run_exit_3_when_a_run_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str):
    """The grid itself is replaced by one that writes an ok and a failed record: what is checked is the command's
    ending (the whole grid ran, then exit 3 and one line)."""
    from types import SimpleNamespace

    out = tmp_path / "out"
    if command == "sweep":
        monkeypatch.setattr("harness.sweeps.run_sweep", lambda grid, out_, launch, report: [
            SimpleNamespace(record=path) for path in _failed_grid(out_)])
        result = invoke("sweep", "--tasks", TASKS[0], "--seeds", "0,1", "--out", str(out), check=False)
    else:
        monkeypatch.setattr("harness.submissions.score.score", lambda manifest, suite, protocol, out_, *args, **kwargs:
                            _failed_grid(out_))
        result = invoke("submit", "run", str(tmp_path / "manifest.yaml"), "--suite", "embedded", "--out", str(out),
                        check=False)
    assert result.exit_code == 3, result.stderr
    assert_one_line_error(result, "1 of 2 runs did not finish ok", "seed=1 failed (RuntimeError: boom)")


@pytest.mark.parametrize("status", [
    case("sweep-job-failed-keeps-its-reason", "failed", risk="silent", issue=False),
    case("sweep-job-diverged-keeps-its-reason", "diverged", risk="silent", issue=False),
])
def test_a_sweep_job_that_exits_3_keeps_the_record_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             status: str):
    """A sweep worker's `medbench run` exits 3 after writing its record: the record's own reason stays, it is not
    replaced by a 'worker process exited' record."""
    import sys

    from harness.sweeps.grid import SweepCell
    from harness.sweeps.launch import Job, execute

    path = record_path(tmp_path, TASKS[0], "scratch", "resnet18", "quick", 0)
    write_json_atomic(path, make_record(TASKS[0], "scratch", "resnet18", 0, status=status, error="training loss became nan"))
    job = Job(SweepCell(TASKS[0], "scratch", "resnet18", 0), "quick", (), path, tmp_path / "job.log")
    monkeypatch.setattr(Job, "command", lambda self, processes: [sys.executable, "-c", "raise SystemExit(3)"])
    assert execute(job) == status
    assert json.loads(path.read_text())["error"] == "training loss became nan"

"""The typed result record: old records read through upgrade(), strict one-line errors, unknown fields kept,
the published schema current, and one flattening for `results`, `status` and the leaderboard."""

import json
import shutil
from pathlib import Path

import pytest

from harness import record_docs
from harness.errors import MedbenchError
from harness.leaderboard.aggregate import load_runs
from harness.record import SCHEMA_VERSION, RunRecord, upgrade
from harness.results import load_record
from harness.results_table import records_frame
from harness.sweeps import folder_status

RECORDS = Path(__file__).parent / "records"  # real records written by older medbench commits (their git_sha says which)


def test_records_of_older_schema_versions_read_through_upgrade():
    before = load_record(RECORDS / "v1-before-regimes.json")  # made before evaluation regimes existed
    assert (before.schema_version, before.mode, before.label_budget, before.image_size) == (SCHEMA_VERSION, "finetune",
                                                                                            "full", 32)
    assert before.metrics["auroc"] == pytest.approx(0.5067368745803833) and before.extra == {}
    knn = load_record(RECORDS / "v1-knn-budget8.json")
    assert (knn.mode, knn.label_budget, knn.regime["tag"]) == ("knn", 8, "knn-k11__budget8")
    dead = load_record(RECORDS / "v1-dead-worker.json")  # a sweep's record of a worker killed by SIGKILL
    assert dead.status == "failed" and "SIGKILL" in dead.error and dead.image_size is None


def test_to_json_and_from_json_round_trip_without_loss():
    record = load_record(RECORDS / "v1-knn-budget8.json")
    again = RunRecord.from_json(record.to_json())
    assert again == record and again.to_json() == record.to_json()


def test_unknown_fields_are_kept_as_written_and_read_by_nothing(tmp_path: Path):
    raw = json.loads((RECORDS / "v1-before-regimes.json").read_text())
    raw["contamination_screen"] = {"flagged": 0, "method": "copy matcher"}  # a field from a newer medbench
    raw["efficiency"]["time_to_95_val_s"] = 1.5
    record = RunRecord.from_dict(raw)
    assert record.extra == {"contamination_screen": {"flagged": 0, "method": "copy matcher"}}
    assert json.loads(record.to_json())["contamination_screen"]["flagged"] == 0
    assert record.row(tmp_path / "r.json")["eff:time_to_95_val_s"] == 1.5 and "contamination_screen" not in record.row(
        tmp_path / "r.json")


@pytest.mark.parametrize("change, message", [
    ({"seed": "0"}, "field seed must be a whole number, not '0'"),
    ({"seed": True}, "field seed must be a whole number, not True"),
    ({"status": "great"}, "field status must be 'ok' or 'diverged' or 'failed', not 'great'"),
    ({"metrics": [1, 2]}, "field metrics must be an object, not a JSON array"),
    ({"label_budget": "8"}, "field label_budget must be a whole number or 'full', not '8'"),
    ({"task": None}, "field task must be text, not None"),
    ({"schema_version": 3}, "schema_version 3 is not one this medbench reads"),
    ({"schema_version": "2"}, "schema_version '2' is not one this medbench reads"),
])
def test_a_bad_record_is_one_line_naming_the_field(change: dict, message: str):
    raw = {**json.loads((RECORDS / "v1-knn-budget8.json").read_text()), **change}
    with pytest.raises(MedbenchError, match="^x.json: ") as caught:
        RunRecord.from_dict(raw, "x.json")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_identity_fields_and_non_objects_are_refused():
    with pytest.raises(MedbenchError, match="missing field.s. backbone, protocol, seed, status"):
        RunRecord.from_dict({"schema_version": 1, "task": "t", "init": "scratch", "metrics": {}}, "x.json")
    with pytest.raises(MedbenchError, match="holds a JSON list"):
        upgrade([1], "x.json")
    with pytest.raises(MedbenchError, match="NaN is not a number a record may hold"):
        RunRecord.from_json('{"schema_version": 2, "metrics": {"auroc": NaN}}', "x.json")


def test_the_published_schema_and_docs_page_are_generated_from_the_type():
    assert record_docs.SCHEMA_FILE.read_text() == record_docs.schema_text(), "run python -m harness.record_docs"
    page = record_docs.PAGE.read_text()
    assert page == record_docs.page_text(page), "run python -m harness.record_docs"
    schema = json.loads(record_docs.SCHEMA_FILE.read_text())
    assert set(schema["required"]) == {"task", "init", "backbone", "protocol", "seed", "status", "schema_version"}


def test_results_status_and_the_leaderboard_share_one_flattening(tmp_path: Path):
    for path in RECORDS.glob("v1-*.json"):
        folder = tmp_path / "synth-xray-cls"
        folder.mkdir(exist_ok=True)
        shutil.copy(path, folder / path.name)
    results, (board, _, _) = records_frame(tmp_path), load_runs(tmp_path)
    assert list(results.columns) == list(board.columns) and results.equals(board)
    assert {"metric:auroc", "eff:wall_time_s", "mode", "label_budget", "state"} <= set(results.columns)
    _, cells = folder_status(tmp_path)
    assert sorted(c.state for c in cells) == ["done", "done", "failed"]
    assert sorted(results["status"]) == ["failed", "ok", "ok"]

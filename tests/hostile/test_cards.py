"""Hostile task cards: names used as paths, wrong types, values out of range, unknown metrics.

Each card is written to its own task folder (MEDBENCH_TASK_DIRS) and read by `medbench tasks list`,
which reads every card: a bad card is refused with one line naming the card and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.tasks import REPO_TASK_DIR
from tests.conftest import assert_one_line_error, invoke
from tests.hostile.conftest import case

import pytest

VALID = yaml.safe_load((REPO_TASK_DIR / "synth-xray-cls.yaml").read_text())
DROP = object()

CASES = [
    # the task name becomes a folder of records, audits and site pages
    case("name-parent-traversal", {"name": "../../../tmp/x/ESCAPED"}, "not a safe name", risk="dangerous"),
    case("name-absolute", {"name": "/tmp/x/ESCAPED"}, "not a safe name", risk="dangerous"),
    case("name-subfolder", {"name": "a/b"}, "not a safe name", risk="dangerous"),
    case("name-dotdot-inside", {"name": "x..y"}, "not a safe name", risk="dangerous", issue=False),
    case("name-dot", {"name": "."}, "not a safe name", risk="dangerous", issue=False),
    case("name-hidden", {"name": ".hidden"}, "not a safe name", risk="dangerous", issue=False),
    case("name-backslash", {"name": "..\\..\\x"}, "not a safe name", risk="dangerous", issue=False),
    case("name-newline", {"name": "a\nb"}, "not a safe name", risk="dangerous", issue=False),
    case("name-nul", {"name": "a\x00b"}, "not a safe name", risk="dangerous", issue=False),
    case("name-empty", {"name": ""}, "not a safe name", risk="silent", issue=False),
    case("name-number", {"name": 5}, "not a safe name", risk="silent", issue=False),
    case("name-too-long", {"name": "a" * 300}, "not a safe name", risk="dangerous", issue=False),
    case("name-formula", {"name": "=HYPERLINK(1)"}, "not a safe name", risk="dangerous", issue=False),
    case("name-unicode-slash", {"name": "a\u2215b"}, "not a safe name", risk="dangerous", issue=False),
    # label_names
    case("label-names-number", {"label_names": 5}, "label_names must be a list", risk="traceback"),
    case("label-names-string", {"label_names": "abc"}, "label_names must be a list", risk="silent"),
    case("label-names-null", {"label_names": None}, "label_names must be a list", risk="traceback", issue=False),
    case("label-names-numbers", {"label_names": [0, 1, 2]}, "label_names must be a list", risk="silent", issue=False),
    case("label-names-empty", {"label_names": []}, "non-empty list of distinct", risk="silent", issue=False),
    case("label-names-repeated", {"label_names": ["a", "a", "b"]}, "non-empty list of distinct", risk="silent",
         issue=False),
    case("label-names-mapping", {"label_names": {"a": 1}}, "label_names must be a list", risk="silent", issue=False),
    # channels and image_size
    case("channels-negative", {"channels": -3}, "channels must be", risk="traceback"),
    case("channels-zero", {"channels": 0}, "channels must be 1 (grey) or 3", risk="traceback", issue=False),
    case("channels-two", {"channels": 2}, "channels must be 1 (grey) or 3", risk="silent", issue=False),
    case("channels-text", {"channels": "three"}, "channels must be", risk="traceback", issue=False),
    case("channels-bool", {"channels": True}, "channels must be", risk="silent", issue=False),
    case("channels-float", {"channels": 3.5}, "channels must be", risk="silent", issue=False),
    case("image-size-zero", {"image_size": 0}, "image_size must be a positive", risk="traceback"),
    case("image-size-negative", {"image_size": -64}, "image_size must be", risk="traceback", issue=False),
    case("image-size-text", {"image_size": "64"}, "image_size must be", risk="silent", issue=False),
    case("image-size-float", {"image_size": 64.9}, "image_size must be", risk="silent", issue=False),
    # splits
    case("splits-negative", {"splits": {"train": -1, "val": 1, "test": 1}}, "splits.train must be", risk="silent",
         issue=False),
    case("splits-text", {"splits": {"train": "800", "val": 1, "test": 1}}, "splits.train must be", risk="silent",
         issue=False),
    case("splits-missing-val", {"splits": {"train": 1, "test": 1}}, "splits must give", risk="traceback", issue=False),
    case("splits-list", {"splits": [1, 2, 3]}, "splits must give", risk="traceback", issue=False),
    # metrics: the catalogue
    case("metric-unknown", {"metrics": ["acuracy"]}, "unknown metric 'acuracy'; did you mean accuracy", risk="silent"),
    case("metric-one-unknown", {"metrics": ["auroc", "sensitivity"]}, "unknown metric 'sensitivity'", risk="silent",
         issue=False),
    case("metric-efficiency", {"metrics": ["params"]}, "unknown metric 'params'", risk="silent", issue=False),
    case("metrics-string", {"metrics": "auroc"}, "metrics must be a list", risk="silent", issue=False),
    case("metrics-empty", {"metrics": []}, "metrics must name at least one", risk="silent", issue=False),
    case("metrics-number", {"metrics": [1]}, "metrics must be a list", risk="traceback", issue=False),
    # other fields
    case("kind-unknown", {"kind": "regression"}, "kind must be one of", risk="silent", issue=False),
    case("kind-list", {"kind": ["binary"]}, "kind must be one of", risk="traceback", issue=False),
    case("source-string", {"source": "synthetic"}, "source must be a mapping", risk="traceback", issue=False),
    case("source-args-list", {"source": {"loader": "synthetic", "args": [1]}}, "source.args must be a mapping",
         risk="traceback", issue=False),
    case("source-loader-number", {"source": {"loader": 5}}, "source must be a mapping", risk="silent", issue=False),
    case("md5-not-hex", {"md5": "zz"}, "md5 must be 32 hex digits", risk="silent", issue=False),
    case("url-without-md5", {"url": "https://example.org/x.npz"}, "needs the file's md5", risk="dangerous",
         issue=False),
    case("audit-policy-unknown", {"audit_policy": "ignore-all"}, "audit_policy must be one of", risk="silent",
         issue=False),
    case("description-number", {"description": 5}, "description must be text", risk="silent", issue=False),
    case("license-list", {"license": ["MIT"]}, "license must be text", risk="silent", issue=False),
    case("tags-string", {"tags": "embedded"}, "tags must be a list", risk="silent", issue=False),
    case("unknown-field", {"colour": "red"}, "unknown field(s) colour", risk="silent", issue=False),
    case("missing-kind", {"kind": DROP}, "missing field(s) kind", risk="traceback", issue=False),
    case("binary-three-labels", {"kind": "binary"}, "exactly 2 label_names", risk="silent", issue=False),
]


def _card_dir(tmp_path: Path, change: dict[str, Any]) -> Path:
    card = {key: value for key, value in {**VALID, **change}.items() if value is not DROP}
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "hostile.yaml").write_text(yaml.safe_dump(card, allow_unicode=True))
    return folder


@pytest.mark.parametrize("change, message", CASES)
def test_a_bad_card_is_refused_with_one_line(tmp_path: Path, change: dict[str, Any], message: str):
    folder = _card_dir(tmp_path, change)
    before = sorted(tmp_path.rglob("*"))
    result = invoke("tasks", "list", env={"MEDBENCH_TASK_DIRS": str(folder)}, check=False)
    assert_one_line_error(result, "hostile.yaml", message)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("name", [
    case("run-name-traversal", "../../../x/ESCAPED", risk="dangerous"),
    case("run-name-absolute", "ABSOLUTE", risk="dangerous"),
])
def test_a_card_name_never_becomes_a_path_outside_out(tmp_path: Path, name: str):
    """`medbench run` with such a card stops before writing anything: no record, no audit cache, no escape."""
    target = tmp_path / "x" / "ESCAPED"
    folder = _card_dir(tmp_path, {"name": str(target) if name == "ABSOLUTE" else name})
    out, home = tmp_path / "sub" / "out", tmp_path / "sub" / "home"
    result = invoke("run", "--tasks", "hostile", "--protocol", "smoke", "--out", str(out), "--quiet",
                    env={"MEDBENCH_TASK_DIRS": str(folder), "MEDBENCH_HOME": str(home)}, check=False)
    assert_one_line_error(result, "not a safe name")
    assert not target.exists() and not out.exists() and not (tmp_path / "x").exists()

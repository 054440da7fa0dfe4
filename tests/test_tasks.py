import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from harness import tasks as task_module
from harness.errors import MedbenchError, UnknownNameError
from harness.kinds import TaskKind
from harness.tasks import get_task, parse_card, tasks

CARD = {
    "name": "demo-task", "kind": "binary", "description": "d", "source": {"loader": "medmnist", "args": {"file": "x.npz"}},
    "label_names": ["a", "b"], "channels": 1, "image_size": 28, "splits": {"train": 1, "val": 1, "test": 1},
    "metrics": ["accuracy"], "license": "CC0", "citation": "c",
}


def test_every_card_in_the_repository_parses():
    names = tasks().names()
    assert "breastmnist" in names and "pneumoniamnist" in names
    assert any(n.startswith("synth-") for n in names)
    for name in names:
        assert get_task(name).card_path.endswith(".yaml")


def test_embedded_suite_is_the_synthetic_classification_tasks():
    embedded = task_module.tasks_tagged("embedded")
    assert len(embedded) >= 4
    assert all(t.name.startswith("synth-") and t.name.endswith("-cls") for t in embedded)


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "unknown field(s) colour"),
    ({"kind": "regression"}, "kind must be one of"),
    ({"label_names": ["a", "b", "c"]}, "binary task needs exactly 2"),
    ({"splits": {"train": 1}}, "splits must give"),
    ({"channels": "three"}, "channels must be a whole number"),
])
def test_bad_cards_are_refused_with_the_card_named(change, message):
    with pytest.raises(MedbenchError, match="card.yaml") as info:
        parse_card({**CARD, **change}, "card.yaml")
    assert message in str(info.value)


def test_missing_field_is_named():
    raw = dict(CARD)
    del raw["license"]
    with pytest.raises(MedbenchError, match="missing field.*license"):
        parse_card(raw, "card.yaml")


def test_extra_task_dirs_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({**CARD, "name": "my-own-task"}))
    monkeypatch.setenv("MEDBENCH_TASK_DIRS", str(tmp_path))
    assert get_task("my-own-task").splits == {"train": 1, "val": 1, "test": 1}


def test_unknown_task_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'breastmnist'"):
        get_task("breastmnis")


def test_every_audit_policy_a_card_may_name_is_implemented():
    from harness.audit import POLICIES

    assert POLICIES.names() == sorted(task_module.AUDIT_POLICIES)
    assert task_module.DEFAULT_AUDIT_POLICY in task_module.AUDIT_POLICIES


def test_the_task_kind_is_a_type_that_reads_and_writes_as_its_text():
    spec = get_task("synth-xray-cls")
    assert spec.kind is TaskKind.MULTICLASS and spec.kind == "multiclass" and f"{spec.kind}" == "multiclass"
    assert spec.kind.single_label and not spec.kind.multilabel and not spec.kind.segmentation
    card = spec.to_dict()
    assert type(card["kind"]) is str and yaml.safe_dump(card) and json.loads(json.dumps(card))["kind"] == "multiclass"
    assert dataclasses.replace(spec, kind="segmentation").kind.segmentation  # text given in code becomes the type

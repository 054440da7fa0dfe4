"""Manifest schema, untrusted text, the registry's duplicate rules, contamination names and suites (no weights loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import MedbenchError
from harness.submissions.contamination import contaminating, dataset_names, submission_fields
from harness.submissions.manifest import FIELDS, load_manifest, to_yaml
from harness.submissions.registry import REPO_SUBMISSIONS, check_not_duplicate, registered
from harness.submissions.score import scoring_protocol
from harness.submissions.suite import load_suite
from harness.tasks import get_task
from tests.test_submissions_kit import manifest_fields, write_submission


def refused(folder: Path, match: str, **overrides) -> str:
    with pytest.raises(MedbenchError, match=match) as info:
        load_manifest(write_submission(folder, **overrides))
    message = str(info.value)
    assert "\n" not in message and str(folder / "manifest.yaml") in message
    return message


def test_a_complete_manifest_parses_and_round_trips(tmp_path):
    manifest = load_manifest(write_submission(tmp_path))
    assert manifest.id == "test-lab-resnet18" and manifest.authors == ("Ada Example", "Grace Example")
    assert manifest.weights.kind == "file" and manifest.weights_file() == (tmp_path / "weights.safetensors").resolve()
    assert len(manifest.manifest_sha256) == 64 and "\n" in manifest.description
    assert manifest.fields() == manifest_fields()
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "manifest.yaml").write_text(to_yaml(manifest.fields()))
    assert load_manifest(tmp_path / "again").fields() == manifest.fields()  # a folder means its manifest.yaml


def test_the_schema_is_exactly_these_fields():
    assert list(FIELDS) == ["id", "name", "authors", "contact", "license", "homepage", "description", "backbone",
                            "weights", "sha256", "pretraining_data", "citation"]


@pytest.mark.parametrize("field", ["seed", "protocol", "epochs"])
def test_unknown_fields_are_errors(tmp_path, field):
    message = refused(tmp_path, "unknown field", **{field: 1})
    assert field in message


def test_missing_fields_are_named(tmp_path):
    assert "citation" in refused(tmp_path, "missing field", citation=None)


def test_a_field_given_twice_is_refused(tmp_path):
    path = write_submission(tmp_path)
    path.write_text(path.read_text() + "weights: https://evil.example/w.safetensors\n")
    with pytest.raises(MedbenchError, match="'weights' is given twice"):
        load_manifest(path)


@pytest.mark.parametrize("homepage, match", [
    ("javascript:alert(1)", "must be an https:// URL"),
    ("data:text/html,<script>alert(1)</script>", "must be an https:// URL"),
    ("http://example.org", "must be an https:// URL"),
    ("//example.org/x", "must be an https:// URL"),
    ("https://user:pw@example.org/", "without spaces or credentials"),
    ("https:///nohost", "without spaces or credentials"),
])
def test_homepage_must_be_a_safe_https_link(tmp_path, homepage, match):
    refused(tmp_path, match, homepage=homepage)


@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c"])
def test_bidi_controls_are_refused(tmp_path, char):
    message = refused(tmp_path, "bidi control character", name=f"Harmless{char}kcab")
    assert f"U+{ord(char):04X}" in message and "'name'" in message


@pytest.mark.parametrize("field, value", [
    ("name", "two\nlines"), ("name", "bell\x07"), ("authors", ["esc\x1b[2J"]), ("description", "nul\x00"),
    ("citation", "csi\x9b31m"), ("license", "MIT\u2028X"),
])
def test_control_characters_are_refused(tmp_path, field, value):
    refused(tmp_path, "control character", **{field: value})


def test_lengths_are_capped(tmp_path):
    refused(tmp_path, "over the limit of 120", name="x" * 121)
    refused(tmp_path, "over the limit of 50", authors=[f"a{i}" for i in range(51)])


@pytest.mark.parametrize("overrides, match", [
    ({"id": "Not A Slug"}, "must be a slug"),
    ({"name": True}, "must be text, not a boolean"),
    ({"authors": "one string"}, "non-empty YAML list"),
    ({"pretraining_data": []}, "non-empty YAML list"),
    ({"contact": "javascript:alert(1)"}, "email address or an https"),
    ({"backbone": "resnet18; rm -rf /"}, "timm model name"),
    ({"sha256": "abc"}, "64-hex sha256"),
    ({"weights": "file:/etc/passwd"}, "inside the manifest's folder"),
    ({"weights": "file:~/w.safetensors"}, "inside the manifest's folder"),
    ({"weights": "file:../elsewhere/w.safetensors"}, "without '..'"),
    ({"weights": "hf:org/repo"}, "hf:ORG/REPO@REVISION"),
    ({"weights": "http://example.org/w.safetensors"}, "must be file:PATH"),
    ({"weights": "s3://bucket/w"}, "must be file:PATH"),
])
def test_field_checks(tmp_path, overrides, match):
    refused(tmp_path, match, **overrides)


def test_weights_references_parse(tmp_path):
    hub = load_manifest(write_submission(tmp_path / "a", weights="hf:timm/resnet18.a1_in1k@main")).weights
    assert (hub.kind, hub.repo_id, hub.revision) == ("hf", "timm/resnet18.a1_in1k", "main")
    url = load_manifest(write_submission(tmp_path / "b", weights="https://example.org/w.bin")).weights
    assert (url.kind, url.url) == ("url", "https://example.org/w.bin")


def test_oversized_and_non_utf8_manifests(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("name: " + "x" * 70_000)
    with pytest.raises(MedbenchError, match="over 65,536 bytes"):
        load_manifest(big)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(MedbenchError, match="UTF-8"):
        load_manifest(latin)


# --- the registry ---------------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path) -> Path:
    folder = tmp_path / "submissions"
    write_submission(folder / "existing-one", id="existing-one", name="Existing One: ResNet-18", sha256="a" * 64)
    return folder


@pytest.mark.parametrize("overrides, match", [
    ({"sha256": "a" * 64}, "already submitted as 'existing-one'"),
    ({"name": "existing one — resnet 18"}, "already used by submission 'existing-one'"),
    ({"id": "existing-one"}, "already taken by submissions/existing-one"),
])
def test_duplicates_are_refused_naming_the_existing_submission(tmp_path, registry, overrides, match):
    manifest = load_manifest(write_submission(tmp_path / "mine", **overrides))
    with pytest.raises(MedbenchError, match=match):
        check_not_duplicate(manifest, registry)


def test_a_registered_submission_is_not_its_own_duplicate(tmp_path, registry):
    assert check_not_duplicate(load_manifest(registry / "existing-one"), registry) == 0
    assert check_not_duplicate(load_manifest(write_submission(tmp_path / "mine")), registry) == 1


def test_a_registry_folder_must_be_named_after_its_id(registry):
    write_submission(registry / "wrong-folder", id="another-id", name="Another", sha256="b" * 64)
    with pytest.raises(MedbenchError, match="differs from its folder name"):
        registered(registry)


def test_the_shipped_registry_is_valid_and_has_no_duplicates():
    manifests = registered(REPO_SUBMISSIONS)
    assert {m.id for m in manifests} >= {"timm-resnet18-a1-in1k"}
    for manifest in manifests:
        check_not_duplicate(manifest, REPO_SUBMISSIONS)
    timm_entry = next(m for m in manifests if m.id == "timm-resnet18-a1-in1k")
    assert timm_entry.weights.kind == "hf" and len(timm_entry.weights.revision) == 40


# --- contamination ----------------------------------------------------------------------------


def test_task_dataset_names_cover_card_names_flags_and_sources():
    names = dataset_names(get_task("breastmnist_224"))
    assert {"breastmnist224", "breastmnist", "medmnist", "busi", "datasetbusiwithgt"} <= names
    assert "kvasirseg" in dataset_names(get_task("kvasir-seg")) and "hyperkvasir" in dataset_names(get_task("kvasir-seg"))
    assert "pneumoniamnist" not in names


@pytest.mark.parametrize("declared, task, expected", [
    (["BUSI", "ImageNet-1k"], "breastmnist_224", ["BUSI"]),
    (["Breast-MNIST"], "breastmnist", ["Breast-MNIST"]),
    (["MedMNIST+"], "pneumoniamnist_224", ["MedMNIST+"]),
    (["Dataset_BUSI_with_GT"], "busi-seg", ["Dataset_BUSI_with_GT"]),
    (["ISIC 2018"], "isic2018-seg", ["ISIC 2018"]),
    (["synth xray cls"], "synth-xray-cls", ["synth xray cls"]),
    (["ImageNet-1k", "CheXpert"], "pneumoniamnist_224", []),
    (["synth-histo-cls"], "synth-xray-cls", []),
])
def test_contamination_matches_normalised_names(declared, task, expected):
    assert contaminating(declared, get_task(task)) == expected


def test_record_fields_only_for_submissions():
    task = get_task("synth-xray-cls")
    assert submission_fields({"source": "imagenet"}, task) == {}
    fields = submission_fields({"submission": {"id": "x", "weights_sha256": "f" * 64,
                                               "pretraining_data": ["Synth-XRay-CLS"]}}, task)
    assert fields["contaminated"] is True and fields["contamination"] == {"datasets": ["Synth-XRay-CLS"]}
    assert fields["submission"]["id"] == "x"


# --- suites and protocols ---------------------------------------------------------------------


@pytest.fixture
def board(tmp_path) -> Path:
    path = tmp_path / "board.yaml"
    path.write_text("title: A board\ntasks: [synth-xray-cls, breastmnist_224]\nmetrics: [{name: auroc}]\nprotocol: paper\n")
    return path


def test_suites(board):
    embedded = load_suite("embedded")
    assert embedded.tasks and all("embedded" in t.tags for t in embedded.tasks) and embedded.protocol is None
    suite = load_suite(str(board))
    assert [t.name for t in suite.tasks] == ["synth-xray-cls", "breastmnist_224"] and suite.protocol == "paper"
    with pytest.raises(MedbenchError, match="not found"):
        load_suite("nonexistent-board")


def test_the_standard_suite_is_the_standard_leaderboard():
    standard = yaml.safe_load((REPO_SUBMISSIONS.parent / "leaderboards" / "standard.yaml").read_text())
    suite = load_suite("standard")
    assert [t.name for t in suite.tasks] == standard["tasks"] and suite.protocol == standard["protocol"]


def test_submitters_pick_only_among_fine_tuning_protocols(board):
    embedded, paper_board = load_suite("embedded"), load_suite(str(board))
    assert scoring_protocol(None, embedded).name == "quick"
    assert scoring_protocol(None, paper_board).name == "paper"
    notes = []
    assert scoring_protocol("smoke", paper_board, notes.append).name == "smoke" and "will not appear" in notes[0]
    with pytest.raises(MedbenchError, match="pretraining protocol"):
        scoring_protocol("pretrain-smoke", embedded)
    with pytest.raises(MedbenchError, match="unknown protocol"):
        scoring_protocol("my-own-protocol", embedded)

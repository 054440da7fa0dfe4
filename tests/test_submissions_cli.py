"""`medbench submit` as a submitter runs it, in subprocesses: hostile and broken submissions are refused
with one line and nothing executes; a valid one is validated and scored end to end."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from harness.tasks import tasks_tagged
from tests.conftest import assert_one_line_error, invoke, read_records, run_cli
from tests.test_safe_load import RunsCommand, torch_saved
from tests.test_submissions_kit import raw_safetensors, resnet18_state_dict, safetensors_bytes, write_submission

MARKER = "pwned-by-pickle"


@pytest.fixture(scope="module")
def resnet18() -> dict[str, torch.Tensor]:
    return resnet18_state_dict()


def hostile_pickle(folder: Path) -> bytes:
    return torch_saved({"conv1.weight": torch.ones(1), "evil": RunsCommand(f"touch {folder / MARKER}")})


def with_tensor(state_dict: dict[str, torch.Tensor], key: str, value: torch.Tensor) -> bytes:
    return safetensors_bytes({**state_dict, key: value})


# Each case: (make(folder, resnet18) → (weights bytes or None, file name, manifest overrides), error fragments)
CASES = {
    "pickle-runs-a-command.pth": (lambda f, sd: (hostile_pickle(f), "weights.pth", {}),
                                  ["not plain tensors", "weights.pth"]),
    "same-bytes-as.safetensors": (lambda f, sd: (hostile_pickle(f), "weights.safetensors", {}), ["not plain tensors"]),
    "same-bytes-as.bin": (lambda f, sd: (hostile_pickle(f), "pytorch_model.bin", {}), ["not plain tensors"]),
    "oversized-header": (lambda f, sd: (raw_safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
                                                        b"\0" * 4, declared_length=200 * 1024**2), "w.safetensors", {}),
                         ["header length", "over the"]),
    "overlapping-offsets": (lambda f, sd: (raw_safetensors({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                                            "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}},
                                                           b"\0" * 24), "w.safetensors", {}),
                            ["overlaps"]),
    "nan": (lambda f, sd: (with_tensor(sd, "layer2.0.bn1.weight", torch.full((128,), float("nan"))), "w.safetensors", {}),
            ["'layer2.0.bn1.weight' contains NaN or Inf"]),
    "inf": (lambda f, sd: (with_tensor(sd, "fc.bias", torch.full((1000,), float("inf"))), "w.safetensors", {}),
            ["'fc.bias' contains NaN or Inf"]),
    "wrong-shape": (lambda f, sd: (with_tensor(sd, "layer1.0.conv1.weight", torch.zeros(64, 64, 1, 1)), "w.safetensors", {}),
                    ["do not fit resnet18", "'layer1.0.conv1.weight' has shape (64, 64, 1, 1)"]),
    "wrong-sha256": (lambda f, sd: (safetensors_bytes(sd), "w.safetensors", {"sha256": "e" * 64}),
                     ["but the manifest says eeee"]),
    "unknown-field": (lambda f, sd: (safetensors_bytes(sd), "w.safetensors", {"seeds": [0]}),
                      ["unknown field(s) seeds"]),
    "javascript-homepage": (lambda f, sd: (None, "", {"homepage": "javascript:alert(document.cookie)"}),
                            ["'homepage' must be an https:// URL"]),
    "bidi-name": (lambda f, sd: (None, "", {"name": "Trusted Lab \u202eLN-teseR"}),
                  ["'name' contains a bidi control character (U+202E"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_submissions_are_refused_in_one_line_and_nothing_runs(tmp_path, resnet18, case):
    make, fragments = CASES[case]
    data, filename, overrides = make(tmp_path, resnet18)
    manifest = write_submission(tmp_path / "submission", data, filename or "weights.safetensors", **overrides)
    proc = invoke("submit", "validate", str(manifest), "--suite", "embedded", check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, *fragments)
    assert not (tmp_path / MARKER).exists()


def test_the_hostile_pickle_is_live(tmp_path):
    """Control: loading it the unsafe way really runs the command, so the refusals above mean something."""
    torch.load(io.BytesIO(hostile_pickle(tmp_path)), weights_only=False)
    assert (tmp_path / MARKER).exists()


def test_new_writes_a_manifest_that_validates(tmp_path, resnet18):
    weights = tmp_path / "sub" / "resnet18.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(safetensors_bytes(resnet18))
    out = tmp_path / "sub" / "manifest.yaml"
    flags = ["--id", "cli-lab-resnet18", "--name", "CLI Lab ResNet-18", "--authors", "Ada Example,Grace Example",
             "--contact", "lab@example.org", "--license", "MIT", "--homepage", "https://example.org/lab",
             "--description", "Made by a test.", "--backbone", "resnet18", "--weights", "file:resnet18.safetensors",
             "--pretraining-data", "Synth-XRay-CLS", "--citation", "Example A. 2025.", "--out", str(out)]
    missing = invoke("submit", "new", *flags[:4], "--out", str(out), check=False)
    assert_one_line_error(missing, "missing --authors, --contact", "--citation", "not a terminal")
    assert not out.exists()
    invoke("submit", "new", *flags)
    written = yaml.safe_load(out.read_text())
    assert written["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert written["authors"] == ["Ada Example", "Grace Example"]
    assert_one_line_error(invoke("submit", "new", *flags, check=False), "exists", "--force")

    images = tmp_path / "pretraining-images"
    images.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(images / "a.png")
    proc = invoke("submit", "validate", str(out), "--suite", "embedded", "--check-images", str(images))
    assert "fit: all 100 backbone tensors of resnet18 match" in proc.stdout
    assert "synth-xray-cls results will be flagged" in proc.stdout
    assert "1 pretraining image(s) compared" in proc.stdout and "no copies found" in proc.stdout
    assert "valid: cli-lab-resnet18" in proc.stdout


def test_submitters_cannot_pick_a_pretraining_protocol(tmp_path, resnet18):
    manifest = write_submission(tmp_path, safetensors_bytes(resnet18))
    proc = invoke("submit", "run", str(manifest), "--suite", "embedded", "--protocol", "pretrain-smoke",
                  "--out", str(tmp_path / "out"), check=False)
    assert_one_line_error(proc, "pretrain-smoke is a pretraining protocol")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # fine-tunes resnet18 on the four embedded tasks under the smoke protocol
def test_a_valid_submission_is_scored_end_to_end_on_the_embedded_suite(tmp_path, resnet18):
    data = safetensors_bytes(resnet18)
    sha = hashlib.sha256(data).hexdigest()
    manifest = write_submission(tmp_path / "sub", data, pretraining_data=["Synth-XRay-CLS", "ImageNet-1k"])
    out = tmp_path / "results"
    proc = run_cli("submit", "run", str(manifest), "--suite", "embedded", "--protocol", "smoke", "--out", str(out),
                   "--quiet")
    assert "valid: test-lab-resnet18" in proc.stdout and "protocol smoke" in proc.stdout
    records = read_records(out)
    assert sorted(r["task"] for r in records) == sorted(t.name for t in tasks_tagged("embedded"))
    for record in records:
        assert record["status"] == "ok" and record["protocol"] == "smoke" and record["seed"] == 0
        assert record["init"] == "submission:test-lab-resnet18"
        assert record["submission"]["id"] == "test-lab-resnet18"
        assert record["submission"]["weights_sha256"] == sha == record["provenance"]["weights_sha256"]
        assert record["provenance"]["init_provenance"]["manifest"]["name"] == "Test Lab ResNet-18"
        assert record["provenance"]["protocol_config"]["name"] == "smoke"
        assert record["model"]["load_report"]["matched_fraction"] == 1.0
        flagged = record["task"] == "synth-xray-cls"
        assert record["contaminated"] is flagged
        assert record["contamination"] == {"datasets": ["Synth-XRay-CLS"] if flagged else []}

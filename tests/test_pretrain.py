"""The embedded cpmid-synth set, and `medbench pretrain` releases and `--init cpmid` on it, end to end.

Kept in one file: its tests share one build of the set (`cpmid_synth`), and `make test` sends a file to one worker."""

import json
from pathlib import Path

import pytest
import timm
from timm.models._hub import load_model_config_from_path, load_state_dict_from_path
import torch

from harness.cpmid import load_recipe, open_cpmid
from harness.inits.safe_load import load_weights_file
from harness.tasks import get_task
from tests.conftest import link_cpmid_synth, read_records, run_cli
from tests.test_leaderboard_publish import FakeHub, hub  # noqa: F401  (the loopback Hub fixture)


@pytest.fixture(scope="module")
def home(tmp_path_factory, cpmid_synth: Path) -> Path:
    """Releases of this module's runs; the set they pretrain on is the session's cpmid-synth."""
    home = tmp_path_factory.mktemp("pretrain-home")
    link_cpmid_synth(cpmid_synth, home)
    return home


@pytest.mark.slow
def test_pretrain_writes_a_hub_style_release_that_timm_reads(home: Path, tmp_path: Path):
    release = tmp_path / "release"
    quiet = run_cli("pretrain", "--recipe", "cpmid-synth", "--backbone", "resnet18", "--protocol", "smoke", "--out",
                    str(release), "--quiet", "--data-path", "store", env={"MEDBENCH_HOME": str(home)})
    assert "epoch 1 of 1" not in quiet.stderr  # --quiet: no progress bar
    assert sorted(p.name for p in release.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((release / "config.json").read_text())
    assert config["architecture"] == "resnet18" and config["medbench"]["recipe"] == "cpmid-synth"
    assert len(config["label_names"]) == config["num_classes"] and "/" in config["label_names"][0]
    assert len(config["medbench"]["recipe_sha256"]) == 64
    assert config["medbench"]["data_path"]["train"].startswith("store: MEDBENCH_DATA_PATH=store")  # read from disk
    # timm's own readers of a local Hub-style folder (what `create_model("local-dir:…")` loads through)
    pretrained_cfg, architecture, model_args = load_model_config_from_path(release)
    model = timm.create_model(architecture, pretrained_cfg=pretrained_cfg, **model_args)
    model.load_state_dict(load_state_dict_from_path(release))
    state, _ = load_weights_file(release / "model.safetensors")
    assert torch.equal(model.state_dict()["conv1.weight"], state["conv1.weight"])
    card = (release / "README.md").read_text()
    assert "cpmid-synth" in card and "pretrain-smoke" in card


@pytest.mark.slow
def test_init_cpmid_pretrains_first_when_no_release_exists_then_reuses_it(home: Path, tmp_path: Path):
    args = ["run", "--init", "cpmid", "--backbone", "resnet18", "--protocol", "smoke", "--tasks", "synth-xray-cls", "--quiet"]
    first = run_cli(*args, "--out", str(tmp_path / "a"), env={"MEDBENCH_HOME": str(home)})
    assert "no local CPMID release for resnet18" in first.stderr and "pretrain-smoke" in first.stderr
    assert (home / "releases" / "cpmid-synth" / "resnet18" / "pretrain-smoke" / "model.safetensors").is_file()
    second = run_cli(*args, "--out", str(tmp_path / "b"), env={"MEDBENCH_HOME": str(home)})
    assert "no local CPMID release" not in second.stderr
    (a,), (b,) = read_records(tmp_path / "a"), read_records(tmp_path / "b")
    assert a["status"] == "ok" and a["provenance"]["init_provenance"]["source"] == "cpmid"
    assert a["provenance"]["weights_sha256"] == b["provenance"]["weights_sha256"] and a["metrics"] == b["metrics"]
    assert a["model"]["load_report"]["matched_fraction"] == 1.0 and a["model"]["load_report"]["adapted_input_conv"]


@pytest.mark.slow
def test_pretrain_push_uploads_the_release_to_the_hub(home: Path, tmp_path: Path, hub: str):
    release = tmp_path / "release"
    env = {"MEDBENCH_HOME": str(home), "HF_ENDPOINT": hub, "HF_TOKEN": "hf_fake_write_token",
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    proc = run_cli("pretrain", "--recipe", "cpmid-synth", "--backbone", "resnet18", "--protocol", "smoke", "--out",
                   str(release), "--push", "lab/cpmid-resnet18", env=env)
    assert "epoch 1 of 1: 100%|" in proc.stderr  # one bar for the whole pretraining (tests/test_engine.py: after a resume)
    uploaded = FakeHub.repos["models/lab/cpmid-resnet18"]
    assert {name: uploaded[name] for name in ("model.safetensors", "config.json", "README.md")} == \
        {name: (release / name).read_bytes() for name in ("model.safetensors", "config.json", "README.md")}


@pytest.mark.slow
def test_shipped_cpmid_synth_builds_from_pretraining_families_only(cpmid_synth: Path):
    recipe = load_recipe("cpmid-synth")
    assert all("pretraining" in get_task(s.task).tags for s in recipe.sources)
    assert sorted(recipe.exclude_tasks) == sorted(
        t for t in ("synth-xray-cls", "synth-histo-cls", "synth-fundus-cls", "synth-ultrasound-cls"))
    assert all("downstream" in get_task(t).tags for t in recipe.exclude_tasks)
    cpmid = open_cpmid(cpmid_synth)
    m = cpmid.manifest
    total = m["splits"]["train"]["count"] + m["splits"]["val"]["count"]
    assert 3000 <= total <= 4000 and m["image_size"] == 64 and m["channels"] == 3
    assert m["leakage"]["per_task"] == {t: {"exact": 0, "near": 0} for t in recipe.exclude_tasks}
    assert len(cpmid.label_names) == 9 and min(m["counts"]["train"].values()) > 250

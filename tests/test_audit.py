"""Dataset audits: planted copies across splits are all found, look-alikes are not, real sets give
their known counts, and the command, the cache, `tasks show` and the card's policy work end to end."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from harness.audit import apply_audit_policy, audit_task, latest_audit
from harness.audit.find import find_copies
from harness.copies import DEFAULT_RULE
from harness.data import load_data
from harness.data.arrays import ArrayDataset, TaskData
from harness.data.phantoms.generate import generate
from harness.errors import MedbenchError
from harness.tasks import SourceSpec, get_task, parse_card
from tests.conftest import assert_one_line_error, invoke

# ---------------------------------------------------------------------------------------------
# planted copies


def jpeg(img: np.ndarray, quality: int = 70) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img.squeeze()).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf)).reshape(img.shape)


def resized(img: np.ndarray, factor: float = 0.75) -> np.ndarray:
    """Stored at another resolution and brought back to the dataset's size (at 28 px, a 0.6 factor
    scores 0.974 against its original, just under the rule: docs/copies.md)."""
    pil = Image.fromarray(img.squeeze())
    small = pil.resize((round(pil.width * factor), round(pil.height * factor)), Image.Resampling.BILINEAR)
    return np.asarray(small.resize(pil.size, Image.Resampling.BICUBIC)).reshape(img.shape)


def recropped(img: np.ndarray, keep: float = 0.85, oy: float = 0.0, ox: float = 1.0) -> np.ndarray:
    """An off-centre crop keeping `keep` of each side, resized back to the dataset's size."""
    h, w = img.shape[:2]
    ch, cw = round(h * keep), round(w * keep)
    y, x = round((h - ch) * oy), round((w - cw) * ox)
    pil = Image.fromarray(img[y:y + ch, x:x + cw].squeeze())
    return np.asarray(pil.resize((w, h), Image.Resampling.BILINEAR)).reshape(img.shape)


def contrast(img: np.ndarray, gain: float = 0.8, offset: float = 12) -> np.ndarray:
    return np.clip((img.astype(np.float64) - 128) * gain + 128 + offset, 0, 255).astype(np.uint8)


# (split, index) ← (split, index) through a degradation (None: an exact copy), and the group kind expected
PLANTS = [
    (("test", 0), ("train", 5), None, "exact"),
    (("train", 21), ("train", 20), None, "exact"),  # within one split
    (("val", 1), ("train", 10), jpeg, "near"),
    (("val", 2), ("train", 11), resized, "near"),
    (("test", 3), ("train", 12), recropped, "transformed"),
    (("test", 4), ("train", 13), lambda x: x[:, ::-1].copy(), "transformed"),  # mirrored
    (("test", 5), ("train", 14), contrast, "near"),
    (("val", 6), ("train", 15), lambda x: jpeg(np.rot90(x).copy(), 85), "transformed"),
    (("test", 7), ("val", 8), lambda x: jpeg(x, 75), "near"),
]


def planted_splits(family: str, size: int, seed: int = 3) -> dict[str, np.ndarray]:
    """200/40/60 distinct images of one synthetic family (look-alikes by design) with PLANTS applied."""
    images = generate(family, 300, size, seed)[0]
    splits = {"train": images[:200].copy(), "val": images[200:240].copy(), "test": images[240:].copy()}
    for (split, index), (source, source_index), degrade, _ in PLANTS:
        original = splits[source][source_index]
        splits[split][index] = original if degrade is None else degrade(original)
    return splits


def expected_groups() -> set[tuple[str, frozenset]]:
    return {(kind, frozenset([target, source])) for target, source, _, kind in PLANTS}


def found_groups(groups) -> set[tuple[str, frozenset]]:
    return {(g.kind, frozenset((m.split, m.index) for m in g.members)) for g in groups}


@pytest.mark.parametrize("family,size", [("xray", 64), ("xray", 28), ("fundus", 64), ("ct", 64)])
def test_planted_copies_are_found_and_look_alikes_are_not(family: str, size: int):
    groups = find_copies(planted_splits(family, size), DEFAULT_RULE)
    assert found_groups(groups) == expected_groups()
    linked = [g for g in groups if g.kind != "exact"]
    assert all(c >= DEFAULT_RULE.min_correlation for g in linked for _, _, _, c in g.pairs)


def test_an_unrelated_set_has_no_copies():
    images = generate("ultrasound", 120, 32, 5)[0]
    assert find_copies({"train": images[:80], "val": images[80:100], "test": images[100:]}, DEFAULT_RULE) == ()


# ---------------------------------------------------------------------------------------------
# the card's policy, the cache


def as_task_data(splits: dict[str, np.ndarray]) -> TaskData:
    return TaskData(*(ArrayDataset(splits[s], np.arange(len(splits[s])) % 2) for s in ("train", "val", "test")))


def test_policies_keep_or_drop_train_copies_and_say_so(full_work: None):
    data = as_task_data(planted_splits("xray", 28))
    spec = dataclasses.replace(get_task("breastmnist"), name="audit-policy-test")  # only name and policy matter
    said: list[str] = []
    kept, note = apply_audit_policy(spec, data, report=said.append)
    assert kept is data and note["policy"] == "warn" and note["dropped_train"] == 0
    assert (note["cross_split_exact"], note["cross_split_near"]) == (1, 7)
    assert len(said) == 1 and "training on them anyway" in said[0]
    dropping = dataclasses.replace(spec, audit_policy="drop-from-train")
    used, note = apply_audit_policy(dropping, data, report=said.append)
    assert note["dropped_train"] == 7 == len(data.train) - len(used.train)  # train 5 and 10..15
    assert used.val is data.val and used.test is data.test and "dropped 7 train image(s)" in said[1]
    left = {img.tobytes() for img in used.train.images}
    assert not any(data.train.images[i].tobytes() in left for i in (5, 10, 11, 12, 13, 14, 15))
    assert data.train.images[20].tobytes() in left  # a copy within train is not leakage


def test_audits_are_cached_per_checksum():
    spec = dataclasses.replace(get_task("breastmnist"), name="audit-cache-test")
    splits = planted_splits("xray", 28)
    first, cached = audit_task(spec, data=as_task_data(splits))
    again, cached_again = audit_task(spec, data=as_task_data(splits))
    assert (cached, cached_again) == (False, True) and again.to_dict() == first.to_dict()
    splits["test"][0] = 0  # the exact copy is gone: another checksum, another audit
    changed, cached = audit_task(spec, data=as_task_data(splits))
    assert not cached and changed.counts()["cross_split_exact"] == 0
    assert latest_audit("audit-cache-test").data_sha256 == changed.data_sha256


def test_a_card_policy_must_be_registered():
    raw = yaml.safe_load(Path(get_task("breastmnist").card_path).read_text())
    assert parse_card({**raw, "audit_policy": "drop-from-train"}, "card.yaml").audit_policy == "drop-from-train"
    with pytest.raises(MedbenchError, match="audit_policy must be one of drop-from-train, warn"):
        parse_card({**raw, "audit_policy": "drop"}, "card.yaml")


# ---------------------------------------------------------------------------------------------
# the command, on a generated MedMNIST-format file with its own card


@pytest.fixture(scope="module")
def planted_task(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("planted")
    splits = planted_splits("xray", 28)
    np.savez(root / "planted.npz", **{f"{s}_images": images[..., 0] for s, images in splits.items()},
             **{f"{s}_labels": (np.arange(len(images)) % 2)[:, None] for s, images in splits.items()})
    card = yaml.safe_load(Path(get_task("breastmnist").card_path).read_text())
    card.update(name="planted-xray", source={"loader": "medmnist", "args": {"file": "planted.npz"}},
                splits={s: len(images) for s, images in splits.items()}, audit_policy="drop-from-train")
    del card["url"], card["md5"]  # not downloadable
    (root / "cards").mkdir()
    (root / "cards" / "planted-xray.yaml").write_text(yaml.safe_dump(card))
    return root, {"MEDBENCH_TASK_DIRS": str(root / "cards"), "MEDBENCH_HOME": str(root / "home")}


def test_audit_command_prints_json_and_tasks_show_the_cached_summary(planted_task):
    root, env = planted_task
    before = invoke("tasks", "show", "planted-xray", env=env).stdout
    assert "audit: not computed yet" in before and "medbench data audit planted-xray" in before
    out = invoke("data", "audit", "planted-xray", "--data-dir", str(root), "--json", env=env).stdout
    (line,) = out.strip().splitlines()
    report = json.loads(line)
    assert report["dataset"] == "planted-xray" and report["n_images"] == {"train": 200, "val": 40, "test": 60}
    assert (report["exact_groups"], report["cross_split_exact"], report["cross_split_near"]) == (2, 1, 7)
    assert report["policy"] == "drop-from-train"
    assert report["near_rule"]["min_correlation"] == DEFAULT_RULE.min_correlation
    crossing = {(g["kind"], frozenset((m["split"], m["index"]) for m in g["members"]))
                for g in report["cross_split_groups"]}
    assert crossing == {group for group in expected_groups() if group[1] != frozenset([("train", 21), ("train", 20)])}
    assert all(set(g["splits"]) == {m["split"] for m in g["members"]} for g in report["cross_split_groups"])
    text = invoke("data", "audit", "planted-xray", "--data-dir", str(root), env=env).stdout
    assert "(cached audit)" in text and "exact  train[5], test[0]" in text
    after = invoke("tasks", "show", "planted-xray", env=env).stdout
    assert "audit_policy: drop-from-train" in after
    assert "1 across splits" in after and "near copies across splits: 7" in after


def test_audit_command_errors_are_one_line(planted_task, tmp_path: Path):
    root, env = planted_task
    assert_one_line_error(invoke("data", "audit", "planted-xrey", env=env, check=False), "unknown task 'planted-xrey'",
                          "planted-xray")
    assert_one_line_error(invoke("data", "audit", "planted-xray", "--data-dir", str(tmp_path), env=env, check=False),
                          "planted.npz not found")
    assert_one_line_error(invoke("data", "audit", env=env, check=False), "or pass --all")


# ---------------------------------------------------------------------------------------------
# real data


def test_real_breastmnist_counts(shared_data: Path):
    """BUSI holds many copies of one frame (checked by eye): about 40% of val+test has one in another
    split. (PneumoniaMNIST's sample, 3,166 images: 3 exact cross-split copies, no near or transformed
    ones, 30 s; docs/tasks-and-data.md.)"""
    folder = shared_data / "medmnist"
    if not (folder / "breastmnist.npz").is_file():
        pytest.skip(f"breastmnist.npz is absent from {folder}")
    counts = audit_task(get_task("breastmnist"), folder)[0].counts()
    assert counts["cross_split_exact"] == 1 and 80 <= counts["cross_split_near"] <= 100


def test_real_folder_dataset_has_file_names_and_no_copies(shared_data: Path, tmp_path: Path):
    folder = shared_data / "kvasir_seg_200"
    if not (folder / "images").is_dir():
        pytest.skip(f"{folder} is absent")
    card = get_task("kvasir-seg")
    spec = dataclasses.replace(card, source=SourceSpec(card.source.loader, {**card.source.args, "root": folder.name}))
    audit, _ = audit_task(spec, shared_data)
    assert audit.n_images == {"train": 160, "val": 20, "test": 20} and audit.groups == ()
    data = load_data(spec, shared_data)
    test = data.test.images.copy()
    test[3] = recropped(data.train.images[7])  # a re-cropped copy: its group names the files
    data = TaskData(data.train, data.val, ArrayDataset(test, data.test.targets))
    (group,) = audit_task(spec, shared_data, data=data)[0].groups
    assert group.kind == "transformed" and [m.split for m in group.members] == ["train", "test"]
    assert all(m.name and Path(folder / "images" / f"{m.name}.jpg").is_file() for m in group.members)


@pytest.mark.slow
def test_a_run_applies_the_card_policy_and_records_it(planted_task, tmp_path: Path):
    """Under the suite's MEDBENCH_SKIP=data-audit too: a policy that changes the training data is never skipped."""
    root, env = planted_task
    invoke("run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "smoke", "--quiet",
            "--tasks", "planted-xray", "--data-dir", str(root), "--out", str(tmp_path), env=env)
    (record,) = [json.loads(p.read_text()) for p in tmp_path.rglob("*.json")]
    assert record["status"] == "ok"
    assert record["data_audit"] | {"audited_sha256": None} == {
        "policy": "drop-from-train", "audited_sha256": None, "cross_split_exact": 1, "cross_split_near": 7,
        "train_in_cross_split_groups": 7, "dropped_train": 7, "near_min_correlation": DEFAULT_RULE.min_correlation}
    assert record["data_audit"]["audited_sha256"] != record["provenance"]["data_sha256"]  # trained on fewer images

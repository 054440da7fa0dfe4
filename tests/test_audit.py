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

from harness.audit import NearRule, apply_audit_policy, audit_task, latest_audit
from harness.audit.find import find_copies
from harness.data import load_data
from harness.data.arrays import ArrayDataset, TaskData
from harness.data.phantoms.generate import generate
from harness import hashing
from harness.errors import MedbenchError
from harness.hashing import perceptual_hashes, thumbnail_hashes, thumbnails, translated
from harness.tasks import SourceSpec, get_task, parse_card
from tests.conftest import assert_one_line_error, invoke

# ---------------------------------------------------------------------------------------------
# planted copies


def jpeg(img: np.ndarray, quality: int = 70) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img.squeeze()).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf)).reshape(img.shape)


def resized(img: np.ndarray, factor: float = 0.6) -> np.ndarray:
    """Stored at another resolution and brought back to the dataset's size."""
    pil = Image.fromarray(img.squeeze())
    small = pil.resize((round(pil.width * factor), round(pil.height * factor)), Image.Resampling.BILINEAR)
    return np.asarray(small.resize(pil.size, Image.Resampling.BICUBIC)).reshape(img.shape)


def shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Moved by (dy, dx) pixels, edges replicated (a re-cropped copy)."""
    pad = max(abs(dy), abs(dx))
    padded = np.pad(img, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return padded[pad - dy:pad - dy + img.shape[0], pad - dx:pad - dx + img.shape[1]]


def contrast(img: np.ndarray, gain: float = 0.8, offset: float = 12) -> np.ndarray:
    return np.clip((img.astype(np.float64) - 128) * gain + 128 + offset, 0, 255).astype(np.uint8)


# (split, index) ← (split, index) through a degradation; None means an exact copy
PLANTS = [
    (("test", 0), ("train", 5), None),
    (("train", 21), ("train", 20), None),  # within one split
    (("val", 1), ("train", 10), jpeg),
    (("val", 2), ("train", 11), resized),
    (("test", 3), ("train", 12), lambda x: shifted(x, 2, -1)),
    (("test", 4), ("train", 13), lambda x: shifted(x, 1, 1)),
    (("test", 5), ("train", 14), contrast),
    (("val", 6), ("train", 15), lambda x: contrast(jpeg(shifted(x, -1, 0), 85), 1.1, -4)),
    (("test", 7), ("val", 8), lambda x: jpeg(x, 75)),
]


def planted_splits(family: str, size: int, seed: int = 3) -> dict[str, np.ndarray]:
    """200/40/60 distinct images of one synthetic family (look-alikes by design) with PLANTS applied."""
    images = generate(family, 300, size, seed)[0]
    splits = {"train": images[:200].copy(), "val": images[200:240].copy(), "test": images[240:].copy()}
    for (split, index), (source, source_index), degrade in PLANTS:
        original = splits[source][source_index]
        splits[split][index] = original if degrade is None else degrade(original)
    return splits


def expected_groups() -> set[tuple[str, frozenset]]:
    return {("exact" if degrade is None else "near", frozenset([target, source])) for target, source, degrade in PLANTS}


def found_groups(groups) -> set[tuple[str, frozenset]]:
    return {(g.kind, frozenset((m.split, m.index) for m in g.members)) for g in groups}


@pytest.mark.parametrize("family,size", [("xray", 64), ("xray", 28), ("fundus", 64), ("ct", 64)])
def test_planted_copies_are_found_and_look_alikes_are_not(family: str, size: int):
    groups = find_copies(planted_splits(family, size), NearRule())
    assert found_groups(groups) == expected_groups()
    near = [g for g in groups if g.kind == "near"]
    assert all(c >= NearRule().min_correlation for g in near for _, _, _, c in g.pairs)


def test_an_unrelated_set_has_no_copies():
    images = generate("ultrasound", 120, 32, 5)[0]
    assert find_copies({"train": images[:80], "val": images[80:100], "test": images[100:]}, NearRule()) == ()


def test_thumbnail_hashes_are_the_perceptual_hashes_and_translation_moves_pixels():
    images = generate("histo", 6, 48, 1)[0]
    assert np.array_equal(thumbnail_hashes(thumbnails(images).astype(np.float64)), perceptual_hashes(images))
    thumbs = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    moved = translated(thumbs, 1, -1)
    assert moved[0, 1, 0] == thumbs[0, 0, 1] and moved[0, 0, 0] == thumbs[0, 0, 1]  # edge replicated
    assert translated(thumbs, 0, 0) is thumbs


def test_the_chunked_pair_search_finds_every_pair_within_the_threshold(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(hashing, "_BRUTE_FORCE_CHUNK", 1000)  # many chunks, few hits in most
    rng = np.random.default_rng(0)
    query, reference = rng.integers(0, 2**63, (2, 300), dtype=np.uint64)
    reference[::7] = query[::7] ^ np.uint64(0b1011)
    full = np.bitwise_count(query[:, None] ^ reference[None, :]) if hasattr(np, "bitwise_count") else \
        np.array([[bin(int(q) ^ int(r)).count("1") for r in reference] for q in query])
    q, r = np.nonzero(full <= 10)
    assert np.array_equal(hashing.near_duplicate_keys(query, reference, 10), q * len(reference) + r)


# ---------------------------------------------------------------------------------------------
# the card's policy, the cache


def as_task_data(splits: dict[str, np.ndarray]) -> TaskData:
    return TaskData(*(ArrayDataset(splits[s], np.arange(len(splits[s])) % 2) for s in ("train", "val", "test")))


def test_policies_keep_or_drop_train_copies_and_say_so():
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
    assert report["near_rule"]["min_correlation"] == NearRule().min_correlation
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


def test_real_medmnist_counts(shared_data: Path):
    folder = shared_data / "medmnist"
    if not (folder / "pneumoniamnist.npz").is_file() or not (folder / "breastmnist.npz").is_file():
        pytest.skip(f"the MedMNIST files are absent from {folder}")
    pneumonia, _ = audit_task(get_task("pneumoniamnist"), folder)
    counts = pneumonia.counts()
    # 3 val images are byte copies of train images; no near copy passes among 4.7k candidate look-alikes
    assert (counts["cross_split_exact"], counts["cross_split_near"]) == (3, 0)
    breast, _ = audit_task(get_task("breastmnist"), folder)
    counts = breast.counts()
    # BUSI holds many copies of one frame (checked by eye): about 40% of val+test has one in another split
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
    test[3] = shifted(data.train.images[7], 2, 2)  # a shifted copy: its group names the files
    data = TaskData(data.train, data.val, ArrayDataset(test, data.test.targets))
    (group,) = audit_task(spec, shared_data, data=data)[0].groups
    assert group.kind == "near" and [m.split for m in group.members] == ["train", "test"]
    assert all(m.name and Path(folder / "images" / f"{m.name}.jpg").is_file() for m in group.members)


@pytest.mark.slow
def test_a_run_applies_the_card_policy_and_records_it(planted_task, tmp_path: Path):
    root, env = planted_task
    invoke("run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "smoke", "--quiet",
            "--tasks", "planted-xray", "--data-dir", str(root), "--out", str(tmp_path), env=env)
    (record,) = [json.loads(p.read_text()) for p in tmp_path.rglob("*.json")]
    assert record["status"] == "ok"
    assert record["data_audit"] | {"audited_sha256": None} == {
        "policy": "drop-from-train", "audited_sha256": None, "cross_split_exact": 1, "cross_split_near": 7,
        "train_in_cross_split_groups": 7, "dropped_train": 7, "near_min_correlation": NearRule().min_correlation}
    assert record["data_audit"]["audited_sha256"] != record["provenance"]["data_sha256"]  # trained on fewer images

"""CPMID: recipes are strict, builds are reproducible, downstream copies are removed and counted, shards are verified."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import harness.cpmid.build as cpmid_build
import harness.cpmid.hygiene as hygiene
import harness.cpmid.shards as shards
from harness.copies import DEFAULT_RULE
from harness.cpmid import build_cpmid, cpmid_info, load_recipe, open_cpmid, to_task_data
from harness.cpmid.sources import expand_args
from harness.data import load_data
from harness.data.rows import StoredRows
from harness.errors import MedbenchError, UnknownNameError
from tests.conftest import read_records

SIZE = 32
DOWNSTREAM_CARD = {
    "name": "tiny-down", "kind": "binary", "description": "downstream task whose val/test must not leak",
    "source": {"loader": "medmnist", "args": {"file": "tiny-down.npz"}}, "label_names": ["no", "yes"],
    "channels": 1, "image_size": SIZE, "splits": {"train": 12, "val": 10, "test": 10}, "metrics": ["accuracy"],
    "license": "CC0", "citation": "test data",
}


def blobs(n: int, seed: int, channels: int = 1, size: int = SIZE) -> np.ndarray:
    """Distinct smooth random pictures, (n, size, size) gray or (n, size, size, 3) RGB uint8."""
    rng = np.random.default_rng(seed)
    planes = []
    for coarse in rng.normal(size=(n * channels, 5, 5)).astype(np.float32):
        up = np.asarray(Image.fromarray(coarse, "F").resize((size, size), Image.Resampling.BICUBIC))
        planes.append((up - up.min()) / np.ptp(up) * 255)
    images = np.asarray(planes, dtype=np.uint8).reshape(n, channels, size, size)
    return images[:, 0] if channels == 1 else images.transpose(0, 2, 3, 1).copy()


def reencoded(img: np.ndarray) -> np.ndarray:
    """The same picture, upscaled, JPEG re-encoded, scaled back and brightened: not byte-equal."""
    size = img.shape[0]
    pil = Image.fromarray(img).resize((2 * size, 2 * size), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=85)
    back = np.asarray(Image.open(buf).resize((size, size), Image.Resampling.BICUBIC)).astype(np.int64) + 8
    return np.clip(back, 0, 255).astype(np.uint8)


def save_medmnist(path: Path, images: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> None:
    np.savez(path, **{f"{s}_images": images[s] for s in images}, **{f"{s}_labels": labels[s] for s in labels})


def recipe_dict(name: str, **overrides) -> dict:
    recipe = {
        "name": name, "version": "0.1", "description": "a tiny test set", "image_size": SIZE, "channels": 3,
        "seed": 0, "val_fraction": 0.2, "modality_labels": True,
        "exclude_tasks": ["tiny-down"],
        "sources": [
            {"name": "gray", "loader": "medmnist", "args": {"file": "gray_{size}.npz"}, "kind": "multiclass",
             "label_names": ["a", "b", "c"], "splits": ["train", "val"], "modality": "x-ray",
             "license": "CC BY 4.0", "citation": "Gray et al."},
            {"name": "colour", "loader": "medmnist", "args": {"file": "colour_{size}.npz"}, "kind": "multilabel",
             "label_names": ["p", "q", "r", "s"], "cap": 50, "modality": "photo", "license": "CC0",
             "citation": "Colour et al."},
        ],
    }
    recipe.update(overrides)
    return recipe


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A task folder with a downstream card and a recipe folder, a data folder with their files."""
    tasks, data = tmp_path / "tasks", tmp_path / "data"
    (tasks / "cpmid").mkdir(parents=True)
    data.mkdir()
    monkeypatch.setenv("MEDBENCH_TASK_DIRS", str(tasks))
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "home"))
    (tasks / "tiny-down.yaml").write_text(yaml.safe_dump(DOWNSTREAM_CARD))
    down = {s: blobs(n, seed) for s, n, seed in (("train", 12, 1), ("val", 10, 2), ("test", 10, 3))}
    save_medmnist(data / "tiny-down.npz", down, {s: np.arange(len(x)) % 2 for s, x in down.items()})
    gray = {"train": blobs(60, 4), "val": blobs(10, 5), "test": blobs(10, 6)}
    save_medmnist(data / f"gray_{SIZE}.npz", gray, {s: (np.arange(len(x)) % 3)[:, None] for s, x in gray.items()})
    colour = {s: blobs(70, 7 + i, channels=3) for i, s in enumerate(("train", "val", "test"))}
    rng = np.random.default_rng(0)
    save_medmnist(data / f"colour_{SIZE}.npz", colour, {s: rng.integers(0, 2, (70, 4)) for s in colour})
    write_recipe(tasks, recipe_dict("tiny"))
    return {"tasks": tasks, "data": data, "root": tmp_path, "down": data / "tiny-down.npz"}


def write_recipe(tasks: Path, recipe: dict) -> Path:
    path = tasks / "cpmid" / f"{recipe['name']}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_twice_gives_identical_bytes_and_a_readable_set(world: dict[str, Path]):
    a = build_cpmid("tiny", world["root"] / "a", data_dir=world["data"], progress=lambda _: None)
    b = build_cpmid("tiny", world["root"] / "b", data_dir=world["data"], progress=lambda _: None)
    assert tree_bytes(a) == tree_bytes(b)
    assert not list(a.glob(".*")), "staging files must not be left behind"

    cpmid = open_cpmid(a)
    m = cpmid.manifest
    assert cpmid.label_names == ["gray/a", "gray/b", "gray/c", "colour/p", "colour/q", "colour/r", "colour/s",
                                 "modality/photo", "modality/x-ray"]
    assert m["label_format"] == "multi-hot" and m["multilabel_sources"] == ["colour"]
    assert [s["candidates"] for s in m["sources"]] == [70, 50]  # gray: train + val; colour: capped
    assert m["splits"]["train"]["count"] + m["splits"]["val"]["count"] == sum(s["kept"] for s in m["sources"])
    assert m["recipe"]["near_duplicate_min_correlation"] == DEFAULT_RULE.min_correlation and len(m["recipe_sha256"]) == 64
    train = cpmid.split("train")
    assert isinstance(train.images, StoredRows)  # on disk until read
    assert train.images.shape[1:] == (SIZE, SIZE, 3)
    gray_rows = train.targets[train.sources == 0]
    assert (gray_rows[:, :3].sum(axis=1) == 1).all() and (gray_rows[:, 8] == 1).all()  # one-hot + modality
    assert (gray_rows[:, 3:8] == 0).all()
    data = to_task_data(cpmid)
    assert data.train.targets.dtype == np.uint8 and data.train.targets.shape == (len(train), 9)
    assert np.array_equal(data.val.images, data.test.images)
    info = cpmid_info(a)
    assert "# Datasheet: tiny 0.1" in info and "Verified: all" in info


def test_planted_copies_of_downstream_test_images_are_removed_and_counted(world: dict[str, Path]):
    with np.load(world["down"]) as npz:
        test, val = npz["test_images"], npz["val_images"]
    path = world["data"] / f"gray_{SIZE}.npz"
    with np.load(path) as npz:
        arrays = dict(npz)
    planted = np.stack([test[3], reencoded(test[7]), reencoded(val[0]), arrays["train_images"][5],
                        reencoded(arrays["train_images"][6])])
    assert not np.array_equal(planted[1], test[7])
    arrays["train_images"] = np.concatenate([arrays["train_images"], planted])
    arrays["train_labels"] = np.concatenate([arrays["train_labels"], np.zeros((5, 1), np.int64)])
    np.savez(path, **arrays)

    out = build_cpmid("tiny", world["root"] / "out", data_dir=world["data"], progress=lambda _: None)
    m = json.loads((out / "manifest.json").read_text())
    assert m["leakage"]["per_task"] == {"tiny-down": {"exact": 1, "near": 2}}
    assert m["leakage"]["per_source"] == {"gray": {"tiny-down": 3}, "colour": {"tiny-down": 0}}
    matched = sorted((x["task_split"], x["task_index"], x["match"]) for x in m["leakage"]["matches"])
    assert matched == [("test", 3, "exact"), ("test", 7, "near"), ("val", 0, "near")]
    gray = m["sources"][0]
    assert gray["removed"] == {"leakage": 3, "exact_duplicate": 1, "near_duplicate": 1}
    assert gray["kept"] == 70
    sheet = (out / "DATASHEET.md").read_text()
    assert "| tiny-down | 20 | 1 | 2 | 3 |" in sheet
    assert "| gray | 75 | 75 | 3 | 1 | 1 | 70 |" in sheet


@pytest.mark.parametrize("segmented", [False, True])
def test_look_alike_anatomy_is_kept_but_reencoded_copies_are_not(world: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                                  segmented: bool):
    """Synthetic CT slices correlate ~0.99 overall yet are distinct; only true copies go — also when the kept
    pictures are screened as several segments (small chunks and segments stand in for a large set)."""
    if segmented:
        monkeypatch.setattr(cpmid_build, "MAX_CHUNK", 75)  # chunks above the matcher's MIN_POPULATION, as real ones are
        monkeypatch.setattr(hygiene, "SEGMENT_PICTURES", 64)  # two full segments of 75: copies of 5 and 50, of 120
    card = {**DOWNSTREAM_CARD, "name": "tiny-ct", "kind": "multiclass", "source": {"loader": "synthetic",
            "args": {"family": "ct", "seed": 3}}, "label_names": ["normal", "cyst", "tumour"],
            "image_size": 64, "splits": {"train": 150, "val": 0, "test": 0}}
    (world["tasks"] / "tiny-ct.yaml").write_text(yaml.safe_dump(card))
    from harness.tasks import get_task
    ct = load_data(get_task("tiny-ct")).train.images[:, :, :, 0]
    copies = np.stack([reencoded(ct[i]) for i in (5, 50, 120)])
    save_medmnist(world["data"] / "copies.npz", {s: copies for s in ("train", "val", "test")},
                  {s: np.zeros((3, 1), np.int64) for s in ("train", "val", "test")})
    recipe = recipe_dict("ct", image_size=64, channels=1, exclude_tasks=[], modality_labels=False, sources=[
        {"name": "ct", "task": "tiny-ct"},
        {"name": "copies", "loader": "medmnist", "args": {"file": "copies.npz"}, "kind": "multiclass",
         "label_names": ["normal", "cyst", "tumour"], "license": "CC0", "citation": "test"}])
    write_recipe(world["tasks"], recipe)
    m = open_cpmid(build_cpmid("ct", world["root"] / "out", data_dir=world["data"], progress=lambda _: None)).manifest
    assert [(s["kept"], s["removed"]["near_duplicate"]) for s in m["sources"]] == [(150, 0), (0, 3)]
    assert "Leakage check\n\nNo downstream task was excluded" in (world["root"] / "out" / "DATASHEET.md").read_text()


def test_a_flipped_byte_in_a_shard_names_the_shard(world: dict[str, Path]):
    out = build_cpmid("tiny", world["root"] / "out", data_dir=world["data"], progress=lambda _: None)
    shard = out / "shards" / "train-00000.npy"
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    shard.write_bytes(bytes(raw))
    with pytest.raises(MedbenchError) as err:
        open_cpmid(out)
    message = str(err.value)
    assert "train-00000.npy" in message and "rebuild" in message and "\n" not in message
    with pytest.raises(MedbenchError, match="train-00000.npy"):
        cpmid_info(out)
    assert len(open_cpmid(out, verify=False).split("train")) > 0


def test_small_shard_cap_splits_and_rebuild_removes_stale_shards(world: dict[str, Path],
                                                                 monkeypatch: pytest.MonkeyPatch):
    out = world["root"] / "out"
    monkeypatch.setattr(shards, "SHARD_MAX_IMAGES", 16)
    build_cpmid("tiny", out, data_dir=world["data"], progress=lambda _: None)
    cpmid = open_cpmid(out)
    train = cpmid.split("train")
    assert train.shard_count > 3 and cpmid.manifest["images_per_shard"] == 16
    everything = train.load_images()
    picks = np.array([len(train) - 1, 0, 17, 16, 17])
    assert np.array_equal(train.take(picks), everything[picks])
    monkeypatch.setattr(shards, "SHARD_MAX_IMAGES", 4096)
    build_cpmid("tiny", out, data_dir=world["data"], progress=lambda _: None)
    assert sorted(p.name for p in (out / "shards").iterdir()) == [
        "train-00000.labels.npy", "train-00000.npy", "train-00000.sources.npy",
        "val-00000.labels.npy", "val-00000.npy", "val-00000.sources.npy"]
    assert np.array_equal(open_cpmid(out).split("train").load_images(), everything)


def test_caps_apply_per_class_then_in_total(world: dict[str, Path]):
    recipe = recipe_dict("capped")
    recipe["sources"][0].update(cap_per_class=5, cap=12)
    write_recipe(world["tasks"], recipe)
    m = open_cpmid(build_cpmid("capped", world["root"] / "out", data_dir=world["data"], progress=lambda _: None)).manifest
    assert m["sources"][0]["candidates"] == 12 and m["sources"][0]["available"] == 70
    per_class = [sum(m["counts"][split][f"gray/{c}"] for split in ("train", "val")) for c in "abc"]
    assert sum(per_class) == 12 and max(per_class) <= 5


def test_size_override_and_medmnist_file_names(world: dict[str, Path]):
    assert expand_args({"file": "pathmnist_{size}.npz", "n": 3}, 28) == {"file": "pathmnist.npz", "n": 3}
    assert expand_args({"file": "pathmnist_{size}.npz"}, 64) == {"file": "pathmnist_64.npz"}
    with pytest.raises(MedbenchError, match="gray_48.npz"):
        build_cpmid("tiny", world["root"] / "out", data_dir=world["data"], size=48, progress=lambda _: None)


@pytest.mark.parametrize("edit, fragment", [
    (lambda r: r.update(shard_size=3), "unknown field(s) shard_size"),
    (lambda r: r["sources"][0].update(weight=2), "sources[0]: unknown field(s) weight"),
    (lambda r: r.update(channels=2), "channels must be 1 (gray) or 3"),
    (lambda r: r["sources"][1].update(cap_per_class=3), "cap_per_class applies to single-label"),
    (lambda r: r["sources"][0].pop("license"), "needs 'license'"),
])
def test_recipe_errors_are_one_line_and_name_file_and_key(world: dict[str, Path], edit, fragment: str):
    recipe = recipe_dict("broken")
    edit(recipe)
    path = write_recipe(world["tasks"], recipe)
    with pytest.raises(MedbenchError) as err:
        load_recipe("broken")
    assert fragment in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_recipe_name_suggests_the_closest(world: dict[str, Path]):
    with pytest.raises(UnknownNameError, match="did you mean 'cpmid-medmnist'"):
        load_recipe("cpmid-medmnst")
    with pytest.raises(MedbenchError, match="not found"):
        load_recipe(world["root"] / "nowhere.yaml")


def test_a_source_that_is_also_excluded_is_refused(world: dict[str, Path]):
    recipe = recipe_dict("selfleak")
    recipe["sources"].append({"name": "down", "task": "tiny-down"})
    write_recipe(world["tasks"], recipe)
    with pytest.raises(MedbenchError, match="exclude_tasks protects"):
        build_cpmid("selfleak", world["root"] / "out", data_dir=world["data"], progress=lambda _: None)


def test_out_folder_that_is_not_a_cpmid_is_left_alone(world: dict[str, Path]):
    out = world["root"] / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(MedbenchError, match="not a CPMID folder"):
        build_cpmid("tiny", out, data_dir=world["data"], progress=lambda _: None)
    assert (out / "notes.txt").read_text() == "keep me"


def test_a_build_killed_before_its_manifest_is_started_again_in_the_same_folder(world: dict[str, Path]):
    out = world["root"] / "killed"
    (out / "shards").mkdir(parents=True)
    (out / ".staging-images.u8").write_bytes(b"half a build")  # SIGKILL runs no cleanup
    (out / "shards" / "train-00000.npy").write_bytes(b"stale")
    (out / ".manifest.json.99999999.abcd.tmp").write_text("{")
    build_cpmid("tiny", out, data_dir=world["data"], progress=lambda _: None)
    assert (out / "manifest.json").is_file() and not (out / ".staging-images.u8").exists()


def test_cpmid_medmnist_builds_from_stand_in_files(shared_data: Path, tmp_path: Path):
    """The real recipe, with the team's two MedMNIST files standing in for all nine sources."""
    real = shared_data / "medmnist"
    if not (real / "pneumoniamnist.npz").is_file() or not (real / "breastmnist.npz").is_file():
        pytest.skip(f"breastmnist.npz / pneumoniamnist.npz absent from {real}")
    data = tmp_path / "data"
    data.mkdir()
    for name in ("breastmnist", "pneumoniamnist"):
        shutil.copy(real / f"{name}.npz", data)
    with np.load(real / "pneumoniamnist.npz") as npz:
        pool = npz["train_images"]
    recipe = load_recipe("cpmid-medmnist")
    rng = np.random.default_rng(0)
    for k, source in enumerate(recipe.sources):
        images = pool[k * 20:(k + 1) * 20 + 5]  # 5 shared with the next source: cross-source duplicates
        if source.name in ("pathmnist", "dermamnist", "bloodmnist"):
            images = np.repeat(images[..., None], 3, axis=3)  # these sets are RGB
        classes = len(source.label_names)
        labels = (rng.random((len(images), classes)) < 0.2).astype(np.uint8) if source.kind == "multilabel" \
            else rng.integers(0, classes, (len(images), 1))
        name = expand_args(source.args, 28)["file"]
        save_medmnist(data / name, {s: images for s in ("train", "val", "test")}, {s: labels for s in ("train", "val", "test")})

    out = build_cpmid("cpmid-medmnist", tmp_path / "out", data_dir=data, progress=lambda _: None)
    m = open_cpmid(out).manifest
    assert [s["name"] for s in m["sources"]] == ["pathmnist", "chestmnist", "dermamnist", "octmnist", "bloodmnist",
                                                 "tissuemnist", "organamnist", "organcmnist", "organsmnist"]
    assert m["multilabel_sources"] == ["chestmnist"] and len(m["label_names"]) == 9 + 14 + 7 + 4 + 8 + 8 + 3 * 11
    assert m["image_size"] == 28 and m["channels"] == 3
    assert m["removed"]["exact_duplicate"] >= 8 * 5  # the overlaps between neighbouring sources
    assert m["leakage"]["reference_images"] == {"breastmnist": 78 + 156, "pneumoniamnist": 270 + 468}
    not_screened = m["leakage"]["not_screened"]  # the rest of the suite is absent here: said, not silently passed
    assert {"retinamnist", "breastmnist_224", "kvasir-seg", "isic2018-seg"} <= set(not_screened)
    assert not {"breastmnist", "pneumoniamnist"} & set(not_screened)
    sheet = (out / "DATASHEET.md").read_text()
    assert "HAM10000: CC BY-NC 4.0" in sheet and "| pneumoniamnist | 738 |" in sheet and "**Not screened**" in sheet


def test_a_task_the_recipe_did_not_list_is_screened_at_run_start_and_its_records_flagged(world: dict[str, Path]):
    """Run-time screening from the build's stored fingerprints: a later task whose test split holds copies of the
    build's pictures gets contaminated records with the count; a listed task says it was screened at build time."""
    from harness.cpmid.screening import screening_fields
    from harness.inits import resolve_init
    from harness.pretrain import cpmid_folder
    from harness.protocols import PROTOCOLS
    from harness.record import RunRecord
    from harness.runner import run_grid
    from harness.tasks import get_task

    (world["tasks"] / "tiny-later.yaml").write_text(yaml.safe_dump({**DOWNSTREAM_CARD, "name": "tiny-later", "source": {
        "loader": "medmnist", "args": {"file": "tiny-later.npz"}}, "splits": {"train": 12, "val": 6, "test": 10}}))
    out = build_cpmid("tiny", cpmid_folder("tiny"), data_dir=world["data"], progress=lambda _: None)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["fingerprints"]["images"] == sum(s["kept"] for s in manifest["sources"])
    with np.load(world["data"] / f"gray_{SIZE}.npz") as npz:
        gray = npz["train_images"]
    later = {"train": blobs(12, 21), "val": blobs(6, 22),
             "test": np.concatenate([gray[[0, 1, 2]], reencoded(gray[3])[None], blobs(6, 23)])}
    save_medmnist(world["data"] / "tiny-later.npz", later, {s: np.arange(len(x)) % 2 for s, x in later.items()})

    provenance = {"cpmid_build": str(out), "recipe_sha256": manifest["recipe_sha256"]}
    listed = screening_fields(provenance, "tiny-down", load_data(get_task("tiny-down"), world["data"]))
    assert listed["cpmid_screening"]["when"] == "build" and "contaminated" not in listed

    pretrain_weights = resolve_init("cpmid:tiny", "test_resnet", "smoke")  # pretrains (seconds) on the build
    assert pretrain_weights.provenance["cpmid_build"] == str(out)
    results = world["root"] / "results"
    run_grid([get_task("tiny-later")], ["cpmid:tiny"], ["test_resnet"], PROTOCOLS.get("smoke"), (0,), results,
             world["data"], torch.device("cpu"), report=lambda _: None, progress=False)
    (record,) = read_records(results)
    screening = record["cpmid_screening"]
    assert screening["screened"] and screening["when"] == "run start" and screening["images_checked"] == 16
    assert screening["copies"] == 4 and screening["per_split"] == {"val": 0, "test": 4}
    assert sorted(m["index"] for m in screening["matches"]) == [0, 1, 2, 3] and screening["per_source"] == {"gray": 4}
    assert record["contaminated"] is True and record["contamination"]["copies"] == 4
    assert RunRecord.from_dict(record).state == "contaminated"  # what the leaderboard shows

"""Folder datasets: class folders, image/mask pairs, CSV lists; splits, groups, cache, and clear errors."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from harness.data import data_status, folder_decode, item_splits, load_data
from harness.data.placement import DATA_PATH_ENV
from harness.data.rows import StoredRows
from harness.errors import MedbenchError
from harness.tasks import SourceSpec, TaskSpec, get_task
from tests.conftest import assert_one_line_error, invoke

RNG = np.random.default_rng(0)
FRACTIONS = {"fractions": {"train": 0.6, "val": 0.2, "test": 0.2}, "seed": 0}


def _spec(loader: str, args: dict, kind: str = "multiclass", labels=("cat", "dog", "owl"), channels: int = 3,
          size: int = 16, name: str = "folder-demo") -> TaskSpec:
    return TaskSpec(name=name, kind=kind, description="test", source=SourceSpec(loader, args), label_names=tuple(labels),
                    channels=channels, image_size=size, splits={"train": 0, "val": 0, "test": 0}, metrics=(),
                    license="CC0", citation="none")


def _save(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def _photo(h: int = 30, w: int = 40, gray: bool = False) -> np.ndarray:
    return RNG.integers(0, 255, (h, w) if gray else (h, w, 3), dtype=np.uint8)


def _disk(h: int = 30, w: int = 40, value: int = 255) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return np.where((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 3) ** 2, value, 0).astype(np.uint8)


def _class_tree(root: Path, per_class: int = 5) -> Path:
    for c, name in enumerate(("cat", "dog", "owl")):
        for i in range(per_class):
            gray = i % 2 == 0  # mixed gray and RGB files, mixed sizes and formats
            _save(root / name / f"{name}{i}.{'png' if gray else 'jpg'}", _photo(20 + 3 * i, 30 + c, gray))
    return root


def _seg_tree(root: Path, n: int = 6, mask_ext: str = "png") -> Path:
    for i in range(n):
        _save(root / "images" / f"case{i}.jpg", _photo())
        _save(root / "masks" / f"case{i}.{mask_ext}", _disk())
    return root


# ---------------------------------------------------------------------------------------------
# class folders


@pytest.mark.parametrize("channels", [1, 3])
def test_class_folders_mix_gray_and_rgb_into_the_card_channels_and_size(tmp_path: Path, channels: int):
    _class_tree(tmp_path / "pets")
    data = load_data(_spec("image_folders", {"root": "pets", "split": FRACTIONS}, channels=channels), tmp_path)
    total = len(data.train) + len(data.val) + len(data.test)
    assert total == 15 and (len(data.val), len(data.test)) == (3, 3)
    for split in (data.train, data.val, data.test):
        assert split.images.shape[1:] == (16, 16, channels) and split.images.dtype == np.uint8
    assert set(np.concatenate([data.train.targets, data.val.targets, data.test.targets])) == {0, 1, 2}


def test_a_split_is_fixed_by_its_seed_and_changes_with_it(tmp_path: Path):
    _class_tree(tmp_path / "pets")
    splits = [item_splits(_spec("image_folders", {"root": "pets", "split": {**FRACTIONS, "seed": s}}), tmp_path)
              for s in (0, 0, 1)]
    assert splits[0] == splits[1] and splits[0] != splits[2]


def test_decoded_arrays_are_cached_until_a_file_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        isolated_home: Path):
    _class_tree(tmp_path / "pets")
    spec = _spec("image_folders", {"root": "pets", "split": FRACTIONS}, name="cache-demo")
    first = load_data(spec, tmp_path)
    assert len(list((isolated_home / "store" / "folders").glob("cache-demo-*"))) == 1

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder_decode, "_decode_into", no_decoding)
    assert load_data(spec, tmp_path).sha256 == first.sha256
    monkeypatch.undo()
    changed = tmp_path / "pets" / "cat" / "cat0.png"
    _save(changed, _photo(20, 30, gray=True))
    os.utime(changed, ns=(1, 1))  # a new mtime even on coarse clocks
    assert load_data(spec, tmp_path).sha256 != first.sha256
    assert len(list((isolated_home / "store" / "folders").glob("cache-demo-*"))) == 1  # the stale decoding is gone


@pytest.mark.parametrize("loader", ["image_folders", "image_mask_folders"])
def test_folders_too_large_for_memory_are_decoded_in_chunks_and_read_by_rows(tmp_path: Path, loader: str,
                                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                                 isolated_home: Path):
    """The same pixels, labels (or masks) and checksum whether the decoded files are held in memory or read
    from the pixel store; decoding writes a few files at a time."""
    if loader == "image_folders":
        _class_tree(tmp_path / "ds")
        spec = _spec("image_folders", {"root": "ds", "split": FRACTIONS}, name="rows-demo")
    else:
        _seg_tree(tmp_path / "ds", n=10)
        spec = _seg_spec({"root": "ds"}, name="rows-demo")
    monkeypatch.setattr(folder_decode, "DECODE_CHUNK", 4)
    monkeypatch.setenv(DATA_PATH_ENV, "memory")
    held = load_data(spec, tmp_path)
    monkeypatch.setenv(DATA_PATH_ENV, "store")
    stored = load_data(spec, tmp_path)
    assert not held.stored and stored.stored and stored.sha256 == held.sha256
    for name in ("train", "val", "test"):
        a, b = held.split(name), stored.split(name)
        assert isinstance(b.images, StoredRows) and np.array_equal(np.asarray(b.images), a.images)
        assert isinstance(b.targets, StoredRows) == (loader == "image_mask_folders")  # masks too stay on disk
        assert np.array_equal(a.targets, np.asarray(b.targets))
    assert len(list((isolated_home / "store" / "folders").glob("rows-demo-*"))) == 1  # decoded once


def test_split_folders_shipped_by_the_dataset_are_used(tmp_path: Path):
    for split in ("train", "val", "test"):
        _class_tree(tmp_path / "ds" / split, per_class=2)
    args = {"root": "ds", "images": {"train": "train", "val": "val", "test": "test"}}
    data = load_data(_spec("image_folders", args), tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (6, 6, 6)
    with pytest.raises(MedbenchError, match="already fix the split; remove source.args.split"):
        load_data(_spec("image_folders", {**args, "split": FRACTIONS}), tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda root: (root / "pets" / "cat" / "cat1.jpg").write_bytes(b"not an image"), "cannot read image .*cat1.jpg"),
    (lambda root: (root / "pets" / "cat" / "cat1.jpg").write_bytes((root / "pets" / "cat" / "cat1.jpg").read_bytes()[:200]),
     "cannot read image .*cat1.jpg"),
    (lambda root: (root / "pets" / "fish").mkdir(), "folder .*fish is not a class"),
])
def test_bad_class_folders_are_clear_errors(tmp_path: Path, damage, message):
    _class_tree(tmp_path / "pets")
    damage(tmp_path)
    with pytest.raises(MedbenchError, match=message):
        load_data(_spec("image_folders", {"root": "pets", "split": FRACTIONS}), tmp_path)


def test_empty_and_absent_folders_are_clear_errors(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MedbenchError, match="no image files in class folders"):
        load_data(_spec("image_folders", {"root": "empty", "split": FRACTIONS}), tmp_path)
    with pytest.raises(MedbenchError, match="folder nowhere not found .*pass --data-dir"):
        load_data(_spec("image_folders", {"root": "nowhere", "split": FRACTIONS}), tmp_path)
    with pytest.raises(MedbenchError, match="declare the split"):
        _class_tree(tmp_path / "pets")
        load_data(_spec("image_folders", {"root": "pets"}), tmp_path)


def test_an_unreadable_image_is_one_line_on_the_command_line(tmp_path: Path):
    _class_tree(tmp_path / "data" / "pets")
    (tmp_path / "data" / "pets" / "dog" / "dog1.jpg").write_bytes(b"\xff\xd8 broken")
    cards = tmp_path / "cards"
    cards.mkdir()
    card = {"name": "pets-cls", "kind": "multiclass", "description": "d", "label_names": ["cat", "dog", "owl"],
            "source": {"loader": "image_folders", "args": {"root": "pets", "split": FRACTIONS}}, "channels": 3,
            "image_size": 16, "splits": {"train": 9, "val": 3, "test": 3}, "metrics": ["accuracy"], "license": "CC0",
            "citation": "none"}
    (cards / "pets.yaml").write_text(yaml.safe_dump(card))
    proc = invoke("run", "--init", "scratch", "--backbone", "resnet18", "--protocol", "smoke", "--quiet", "--tasks",
                   "pets-cls", "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "out"),
                   env={"MEDBENCH_TASK_DIRS": str(cards)}, check=False)
    assert_one_line_error(proc, "cannot read image", "dog1.jpg", "replace or remove the file")


# ---------------------------------------------------------------------------------------------
# image/mask pairs

SEG = {"root": "seg", "split": FRACTIONS}


def _seg_spec(args: dict | None = None, **kw) -> TaskSpec:
    kw.setdefault("labels", ("background", "lesion"))
    return _spec("image_mask_folders", {**SEG, **(args or {})}, kind="segmentation", **kw)


def test_pairs_load_as_binary_masks_of_the_card_size(tmp_path: Path):
    _seg_tree(tmp_path / "seg")
    data = load_data(_seg_spec(size=20), tmp_path)
    assert data.train.images.shape[1:] == (20, 20, 3) and data.train.targets.shape[1:] == (20, 20)
    masks = np.concatenate([data.train.targets, data.val.targets, data.test.targets])
    assert set(np.unique(masks)) == {0, 1} and 0.1 < masks.mean() < 0.5


def test_masks_stored_as_0_1_or_as_palette_class_ids(tmp_path: Path):
    _seg_tree(tmp_path / "seg")
    for i in range(6):
        _save(tmp_path / "seg" / "masks" / f"case{i}.png", _disk(value=1))
    assert load_data(_seg_spec(), tmp_path).train.targets.max() == 1
    for i in range(6):
        palette = Image.fromarray(_disk(value=2))
        palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
        palette.save(tmp_path / "seg" / "masks" / f"case{i}.png")
    indexed = load_data(_seg_spec({"mask_mode": "indexed"}, labels=("background", "a", "b")), tmp_path)
    assert set(np.unique(indexed.train.targets)) == {0, 2}


@pytest.mark.parametrize("damage, args, message", [
    (lambda seg: _save(seg / "masks" / "case1.png", _disk(31, 40)), {}, "mask .*case1.png is 40×31 but its image .* 40×30"),
    (lambda seg: (seg / "masks" / "case2.png").unlink(), {}, "image .*case2.jpg has no mask"),
    (lambda seg: _save(seg / "masks" / "extra.png", _disk()), {}, "mask .*extra.png has no image"),
    (lambda seg: _save(seg / "masks" / "case3.png", _disk(value=2)), {}, "values 0..2: that looks like class ids"),
    (lambda seg: _save(seg / "masks" / "case3.png", _photo(gray=True)), {}, "is not binary"),
    (lambda seg: [_save(seg / "masks" / f"case{i}.png", _disk(value=7 if i == 3 else 1)) for i in range(6)],
     {"mask_mode": "indexed"}, "case3.png has class id 7 but the card has 2 label_names"),
    (lambda seg: (seg / "images" / "case4.jpg").write_bytes(b"garbage"), {}, "cannot read image .*case4.jpg"),
    (lambda seg: [p.unlink() for p in (seg / "images").iterdir()], {}, "no image files in"),
])
def test_bad_pairs_are_clear_errors(tmp_path: Path, damage, args: dict, message: str):
    _seg_tree(tmp_path / "seg")
    damage(tmp_path / "seg")
    with pytest.raises(MedbenchError, match=message):
        load_data(_seg_spec(args), tmp_path)


def test_busi_layout_masks_beside_images_and_extra_masks_merged(tmp_path: Path):
    for cls in ("benign", "normal"):
        for i in (1, 2):
            _save(tmp_path / "busi" / cls / f"{cls} ({i}).png", _photo(gray=True))
            _save(tmp_path / "busi" / cls / f"{cls} ({i})_mask.png", _disk() if cls == "benign" else _disk(value=0))
    extra = np.zeros((30, 40), np.uint8)
    extra[:5, :5] = 255
    _save(tmp_path / "busi" / "benign" / "benign (1)_mask_1.png", extra)
    spec = _seg_spec({"root": "busi", "images": ".", "masks": ".", "recursive": True, "mask_suffix": "_mask"},
                     channels=1, size=30)
    rows = item_splits(spec, tmp_path)
    assert sorted(r[0] for r in rows) == ["benign/benign (1)", "benign/benign (2)", "normal/normal (1)", "normal/normal (2)"]
    data = load_data(spec, tmp_path)
    masks = {key: mask for split in ("train", "val", "test")
             for key, mask in zip([r[0] for r in rows if r[2] == split], data.split(split).targets)}
    assert masks["benign/benign (2)"].any() and not masks["normal/normal (1)"].any()  # normal: empty masks
    merged = folder_decode._decode_masks(tuple(sorted((tmp_path / "busi" / "benign").glob("benign (1)_mask*.png"))),
                                         (40, 30), Path("benign (1).png"), 30, "binary", 2)
    assert merged[0, 0] == 1 and merged[15, 20] == 1  # the corner from _mask_1, the disk from _mask


def test_official_split_folders_with_a_mask_suffix(tmp_path: Path):
    images, masks = {}, {}
    for split, n in (("train", 4), ("val", 2), ("test", 3)):
        images[split], masks[split] = f"{split}_in", f"{split}_gt"
        for i in range(n):
            _save(tmp_path / "isic" / f"{split}_in" / f"ISIC_{split}{i}.jpg", _photo())
            _save(tmp_path / "isic" / f"{split}_gt" / f"ISIC_{split}{i}_segmentation.png", _disk())
        (tmp_path / "isic" / f"{split}_gt" / "LICENSE.txt").write_text("not an image: ignored")
    data = load_data(_spec("image_mask_folders", {"root": "isic", "images": images, "masks": masks, "mask_suffix": "_segmentation"},
                 kind="segmentation", labels=("background", "lesion")), tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (4, 2, 3)


def test_kvasir_seg_sample_loads_from_the_real_card(shared_data: Path):
    folder = shared_data / "kvasir_seg_200"
    if not (folder / "images").is_dir():
        pytest.skip(f"{folder} is absent")
    card = get_task("kvasir-seg")
    spec = dataclasses.replace(card, source=SourceSpec(card.source.loader, {**card.source.args, "root": folder.name}))
    data = load_data(spec, shared_data)
    assert (len(data.train), len(data.val), len(data.test)) == (160, 20, 20)  # the card's 80/10/10 of 200
    assert data.train.images.shape[1:] == (224, 224, 3) and data.train.targets.shape[1:] == (224, 224)
    masks = np.concatenate([data.train.targets, data.val.targets, data.test.targets])
    assert set(np.unique(masks)) == {0, 1}  # JPEG artefacts thresholded away
    per_image = masks.reshape(len(masks), -1).mean(axis=1)
    assert per_image.min() > 0 and 0.05 < per_image.mean() < 0.4  # every frame has a polyp


# ---------------------------------------------------------------------------------------------
# CSV lists, groups, split files


def _csv_tree(root: Path, rows: list[str], header: str = "path,label,split,patient") -> Path:
    for i in range(12):
        _save(root / "img" / f"p{i}.png", _photo(gray=True))
    (root / "list.csv").write_text("\n".join([header, *rows]) + "\n")
    return root


def _csv_spec(**args) -> TaskSpec:
    return _spec("csv_list", {"root": "ds", "csv": "list.csv", **args}, kind="binary", labels=("benign", "malignant"),
                 channels=1)


def test_csv_list_with_names_indices_and_a_split_column(tmp_path: Path):
    rows = [f"img/p{i}.png,{['benign', '1'][i % 2]},{['train', 'val', 'test'][i % 3]},P{i}" for i in range(12)]
    data = load_data(_csv_spec(group_column="patient"), _csv_tree(tmp_path / "ds", rows).parent)
    assert (len(data.train), len(data.val), len(data.test)) == (4, 4, 4)
    assert set(data.train.targets) == {0, 1}


def test_a_patient_in_two_splits_is_refused(tmp_path: Path):
    rows = [f"img/p{i}.png,benign,{'test' if i == 5 else 'train'},P{i // 2}" for i in range(12)]
    _csv_tree(tmp_path / "ds", rows)
    with pytest.raises(MedbenchError, match="patient/lesion id 'P2' crosses splits \\(img/p5.png in test, img/p4.png in train\\)"):
        load_data(_csv_spec(group_column="patient"), tmp_path)


def test_a_declared_split_keeps_each_patient_together(tmp_path: Path):
    rows = [f"img/p{i}.png,benign,,P{i // 3}" for i in range(12)]
    _csv_tree(tmp_path / "ds", rows, header="path,label,unused,patient")
    spec = _csv_spec(group_column="patient", split={"fractions": {"train": 0.5, "val": 0.25, "test": 0.25}, "seed": 3})
    rows_out = item_splits(spec, tmp_path)
    by_group: dict[str, set[str]] = {}
    for _, group, split in rows_out:
        by_group.setdefault(group, set()).add(split)
    assert all(len(s) == 1 for s in by_group.values()) and len(by_group) == 4
    assert sorted(next(iter(s)) for s in by_group.values()) == ["test", "train", "train", "val"]


def test_a_split_file_fixes_the_split_and_must_list_every_image(tmp_path: Path):
    rows = [f"img/p{i}.png,malignant" for i in range(12)]
    _csv_tree(tmp_path / "ds", rows, header="path,label")
    (tmp_path / "ds" / "splits.csv").write_text(
        "id,split\n" + "".join(f"img/p{i}.png,{'test' if i < 3 else 'train'}\n" for i in range(12)))
    data = load_data(_csv_spec(split={"file": "splits.csv"}), tmp_path)
    assert (len(data.train), len(data.val), len(data.test)) == (9, 0, 3)
    (tmp_path / "ds" / "splits.csv").write_text("id,split\nimg/p0.png,train\n")
    with pytest.raises(MedbenchError, match="11 image\\(s\\) not listed"):
        load_data(_csv_spec(split={"file": "splits.csv"}), tmp_path)


@pytest.mark.parametrize("rows, header, message", [
    (["img/p0.png,tumour"], "path,label", "label 'tumour' is neither one of benign, malignant"),
    (["img/missing.png,benign"], "path,label", "line 2: image .*missing.png not found"),
    (["img/p0.png,benign"], "file,label", "no column path"),
    (["img/p0.png,benign,holdout"], "path,label,split", "split 'holdout' is not one of"),
])
def test_bad_csv_lists_are_clear_errors(tmp_path: Path, rows, header, message):
    _csv_tree(tmp_path / "ds", rows, header=header)
    with pytest.raises(MedbenchError, match=message):
        load_data(_csv_spec(split=FRACTIONS), tmp_path)


def test_split_export_from_the_command_line(tmp_path: Path):
    _seg_tree(tmp_path / "data" / "Kvasir-SEG", n=10)
    out = tmp_path / "splits.csv"
    invoke("data", "splits", "kvasir-seg", "--data-dir", str(tmp_path / "data"), "--out", str(out))
    lines = out.read_text().splitlines()
    assert lines[0] == "id,group,split" and len(lines) == 11
    assert sorted(line.rsplit(",", 1)[1] for line in lines[1:]).count("test") == 1  # 10 % of 10


def test_folder_status_says_where_the_folder_is_expected(tmp_path: Path):
    assert data_status(get_task("kvasir-seg"), tmp_path) == ("missing", str(tmp_path / "Kvasir-SEG"))
    _seg_tree(tmp_path / "Kvasir-SEG")
    assert data_status(get_task("kvasir-seg"), tmp_path) == ("present", str(tmp_path / "Kvasir-SEG"))


# ---------------------------------------------------------------------------------------------
# a release's own train/test split with val carved out of train


def _train_test_tree(root: Path, per_class: int = 10) -> Path:
    for split in ("train", "test"):
        for name in ("cat", "dog", "owl"):
            for i in range(per_class if split == "train" else 2):
                _save(root / split / name / f"{name}{i}.png", _photo(12, 12))
    return root


def test_val_from_train_keeps_the_release_test_split_and_moves_a_seeded_part_of_train(tmp_path: Path):
    _train_test_tree(tmp_path / "xr")
    args = {"root": "xr", "images": {"train": "train", "test": "test"}, "split": {"val_from_train": 0.2, "seed": 0}}
    rows = item_splits(_spec("image_folders", args), tmp_path)
    by_split = {s: {k for k, _, sp in rows if sp == s} for s in ("train", "val", "test")}
    assert (len(by_split["train"]), len(by_split["val"]), len(by_split["test"])) == (24, 6, 6)
    assert all(k.startswith("test/") for k in by_split["test"]) and all(k.startswith("train/") for k in by_split["val"])
    other = item_splits(_spec("image_folders", {**args, "split": {"val_from_train": 0.2, "seed": 1}}), tmp_path)
    assert {k for k, _, s in other if s == "val"} != by_split["val"]


def test_val_from_train_moves_whole_groups(tmp_path: Path):
    root = _train_test_tree(tmp_path / "xr")
    ids = [p.stem for p in sorted(root.rglob("*.png"))]
    (root / "groups.csv").write_text("image,patient\n" + "".join(f"{i},p{int(i[3:]) // 2}\n" for i in ids))
    args = {"root": "xr", "images": {"train": "train", "test": "test"}, "split": {"val_from_train": 0.3, "seed": 0},
            "groups": {"file": "groups.csv", "id_column": "image", "group_column": "patient"}}
    with pytest.raises(MedbenchError, match="crosses splits"):  # p0 holds train and test images: the release mixes them
        item_splits(_spec("image_folders", args), tmp_path)
    for test_file in (root / "test").rglob("*.png"):
        test_file.rename(test_file.with_name(f"t{test_file.name}"))
    (root / "groups.csv").write_text("image,patient\n" + "".join(
        f"{p.stem},{p.parent.parent.name}{p.stem[:3]}{int(p.stem.lstrip('t')[3:]) // 2}\n" for p in root.rglob("*.png")))
    rows = item_splits(_spec("image_folders", args), tmp_path)
    where: dict[str, set[str]] = {}
    for _, group, split in rows:
        where.setdefault(group, set()).add(split)
    assert all(len(s) == 1 for s in where.values()) and any(s == {"val"} for s in where.values())


def test_train_and_test_folders_without_val_from_train_are_a_clear_error(tmp_path: Path):
    _train_test_tree(tmp_path / "xr")
    spec = _spec("image_folders", {"root": "xr", "images": {"train": "train", "test": "test"}})
    with pytest.raises(MedbenchError, match=r"give train and test only.*val_from_train"):
        item_splits(spec, tmp_path)
    bad = _spec("image_folders", {"root": "xr", "images": {"train": "train", "test": "test"},
                                  "split": {"val_from_train": 1.5}})
    with pytest.raises(MedbenchError, match="between 0 and 1"):
        item_splits(bad, tmp_path)


# ---------------------------------------------------------------------------------------------
# copies kept together


def _textured(seed: int, size: int = 96) -> np.ndarray:
    """A smooth random picture (the matcher compares low frequencies, so noise alone is not a picture)."""
    small = np.random.default_rng(seed).integers(0, 255, (6, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))


def _copies_tree(root: Path) -> dict[str, list[str]]:
    """Per class 8 originals, 4 of them with a mirrored and a resized copy; returns copy families."""
    families = {}
    for c, name in enumerate(("cat", "dog", "owl")):
        for i in range(8):
            picture = _textured(100 * c + i)
            _save(root / name / f"{name}{i}.png", picture)
            if i < 4:
                _save(root / name / f"{name}{i}_mirror.png", picture[:, ::-1])
                _save(root / name / f"{name}{i}_small.jpg", np.asarray(Image.fromarray(picture).resize((60, 60))),
                      quality=90)
                families[f"{name}{i}"] = [f"{name}/{name}{i}", f"{name}/{name}{i}_mirror", f"{name}/{name}{i}_small"]
    return families


@pytest.mark.slow  # the copy matcher's index: ~7 s on 2 loaded cores
def test_copies_together_keeps_each_copy_family_in_one_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path / "home"))
    families = _copies_tree(tmp_path / "pets")
    spec = _spec("image_folders", {"root": "pets", "split": {**FRACTIONS, "seed": 3}, "copies": "together"})
    rows = {key: (group, split) for key, group, split in item_splits(spec, tmp_path)}
    for members in families.values():
        assert len({rows[m][1] for m in members}) == 1, members  # one split per family
        assert len({rows[m][0] for m in members}) == 1  # one group, named after a member
    singles = [key for key in rows if not any(key in f for f in families.values())]
    assert all(rows[key][0] == key for key in singles)  # pictures without copies stay their own group
    assert list((tmp_path / "home" / "copies").glob("*.json"))  # clustered once, cached
    apart = {k: s for k, _, s in item_splits(_spec("image_folders", {"root": "pets", "split": {
        **FRACTIONS, "seed": 3}}), tmp_path)}
    assert any(len({apart[m] for m in members}) > 1 for members in families.values())  # what the option prevents


def test_copies_together_needs_a_split_the_harness_draws(tmp_path: Path):
    _train_test_tree(tmp_path / "xr")
    spec = _spec("image_folders", {"root": "xr", "images": {"train": "train", "test": "test", "val": "test"},
                                   "copies": "together"})
    with pytest.raises(MedbenchError, match="copies: together needs a split the harness draws"):
        item_splits(spec, tmp_path)
    with pytest.raises(MedbenchError, match="copies must be together or apart"):
        item_splits(_spec("image_folders", {"root": "xr", "images": {"train": "train", "test": "test"},
                                                      "split": {"val_from_train": 0.2}, "copies": "yes"}), tmp_path)

"""The procedural families: deterministic, shaped right, shortcut-free, cached safely, carded."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.data import load_data, synthetic
from harness.data.loader import LOADERS
from harness.data.phantoms.families import FAMILIES
from harness.data.phantoms.generate import GENERATOR_VERSION, contact_sheet, generate
from harness.errors import MedbenchError, UnknownNameError
from harness.tasks import REPO_TASK_DIR, SourceSpec, TaskSpec, parse_card

ALL = FAMILIES.names()
DOWNSTREAM = [n for n in ALL if FAMILIES.get(n).role == "downstream"]
PRETRAINING = [n for n in ALL if FAMILIES.get(n).role == "pretraining"]


def _spec(family: str, kind: str = "multiclass", splits: dict[str, int] | None = None, size: int = 32,
          **args: object) -> TaskSpec:
    fam = FAMILIES.get(family)
    labels = ("background", "lesion") if kind == "segmentation" else fam.class_names
    source = SourceSpec("synthetic", {"family": family, **args})
    return TaskSpec(name=f"t-{family}", kind=kind, description="", source=source, label_names=labels,
                    channels=fam.channels, image_size=size, splits=splits or {"train": 6, "val": 3, "test": 3},
                    metrics=("accuracy",), license="", citation="")


def test_roles_cover_the_embedded_suite_and_pretraining() -> None:
    assert {"xray", "histo", "fundus", "ultrasound"} <= set(DOWNSTREAM)
    assert len(PRETRAINING) >= 2 and not set(PRETRAINING) & set(DOWNSTREAM)
    assert len(ALL) >= 6


@pytest.mark.parametrize("family", ALL)
def test_same_seed_gives_identical_bytes(family: str) -> None:
    a, b = generate(family, 6, 32, seed=3), generate(family, 6, 32, seed=3)
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()
    assert generate(family, 6, 32, seed=4)[0].tobytes() != a[0].tobytes()


@pytest.mark.parametrize("family", ALL)
def test_image_i_does_not_depend_on_n(family: str) -> None:
    small, large = generate(family, 4, 32, 7), generate(family, 11, 32, 7)
    for x, y in zip(small, large, strict=True):
        np.testing.assert_array_equal(x, y[:4])


@pytest.mark.parametrize("family", ALL)
@pytest.mark.parametrize("size", [16, 48, 96])
def test_shapes_dtypes_and_balanced_labels(family: str, size: int) -> None:
    fam = FAMILIES.get(family)
    n = 2 * fam.num_classes
    images, labels, masks = generate(family, n, size, 0)
    assert images.shape == (n, size, size, fam.channels) and images.dtype == np.uint8
    assert masks.shape == (n, size, size) and masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [2] * fam.num_classes
    assert images.std() > 5  # not blank


@pytest.mark.parametrize("family", ALL)
def test_masks_mark_lesions_and_are_empty_for_normal(family: str) -> None:
    fam = FAMILIES.get(family)
    _, labels, masks = generate(family, 12 * fam.num_classes, 64, 1)
    lesion_pixels = masks.reshape(len(masks), -1).sum(1)
    for k, name in enumerate(fam.class_names):
        if name == "normal":
            assert (lesion_pixels[labels == k] == 0).all()
        else:
            assert (lesion_pixels[labels == k] > 0).all(), f"{family}/{name} has an image without lesion mask"
            assert lesion_pixels[labels == k].mean() < 0.6 * 64 * 64  # local, not the whole image


def _global_features(images: np.ndarray) -> np.ndarray:
    """Per-channel mean and std, plus a 16-bin histogram of intensity: what a shortcut would use."""
    x = images.astype(np.float32) / 255
    gray = x.mean(-1).reshape(len(x), -1)
    hist = np.stack([np.histogram(g, bins=16, range=(0, 1))[0] for g in gray]) / gray.shape[1]
    return np.concatenate([x.mean((1, 2)), x.std((1, 2)), hist], axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("family", ALL)
def test_global_statistics_do_not_predict_the_label(family: str) -> None:
    """A linear model on global statistics of 600 images stays near chance on new images."""
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_fit, y_fit, _ = generate(family, 600, 64, seed=11)
    x_new, y_new, _ = generate(family, 300, 64, seed=12)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(_global_features(x_fit), y_fit)
    score = balanced_accuracy_score(y_new, clf.predict(_global_features(x_new)))
    assert score < 1 / FAMILIES.get(family).num_classes + 0.15


def _signature(images: np.ndarray) -> np.ndarray:
    """A family's average look: mean colour image at 8x8 and mean radial power spectrum (log)."""
    rgb = np.broadcast_to(images, images.shape[:3] + (3,)).astype(np.float32) / 255
    n, size = len(rgb), rgb.shape[1]
    layout = rgb.reshape(n, 8, size // 8, 8, size // 8, 3).mean((0, 2, 4)).ravel()
    gray = rgb.mean(-1)
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray - gray.mean((1, 2), keepdims=True)), axes=(1, 2))) ** 2
    ring = np.minimum(np.hypot(*(np.indices((size, size)) - size // 2)).astype(int), size // 2).ravel()
    spectrum = np.bincount(ring, power.mean(0).ravel()) / np.bincount(ring)
    return np.concatenate([layout, 0.1 * np.log(spectrum + 1e-6)])


def test_families_look_different() -> None:
    """Two samples of one family are closer to each other than to any other family's sample."""
    first = {f: _signature(generate(f, 30, 32, 0)[0]) for f in ALL}
    second = {f: _signature(generate(f, 30, 32, 1)[0]) for f in ALL}
    for f in ALL:
        same = np.linalg.norm(first[f] - second[f])
        nearest_other = min(np.linalg.norm(first[f] - second[g]) for g in ALL if g != f)
        assert nearest_other > 2 * same, f"{f} is hard to tell from another family"


def test_contact_sheet_has_one_row_per_class() -> None:
    fam = FAMILIES.get("fundus")
    sheet = contact_sheet("fundus", size=32, n_per_class=3)
    assert sheet.dtype == np.uint8 and sheet.shape == (fam.num_classes * 34, 3 * 34, 3)


def test_loader_is_registered_and_splits_are_disjoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))
    data = LOADERS.get("synthetic").load(_spec("histo"), {"family": "histo"}, None)
    assert [len(data.split(s)) for s in ("train", "val", "test")] == [6, 3, 3]
    assert data.train.masks is not None and data.train.masks.shape == (6, 32, 32)
    seen = {img.tobytes() for s in ("train", "val", "test") for img in data.split(s).images}
    assert len(seen) == 12


def test_data_seed_changes_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))
    assert load_data(_spec("xray", seed=0)).sha256 != load_data(_spec("xray", seed=1)).sha256


def test_segmentation_targets_are_the_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))
    seg = load_data(_spec("ultrasound", kind="segmentation"))
    cls = load_data(_spec("ultrasound"))
    np.testing.assert_array_equal(seg.train.targets, cls.train.masks)
    assert seg.train.targets.dtype == np.uint8 and seg.train.masks is None


def test_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))
    first = load_data(_spec("fundus", seed=5))
    files = sorted(p.name for p in (tmp_path / "synthetic").iterdir())
    expected = [f"fundus-s5-32px-{s}-{n}-v{GENERATOR_VERSION}.npz" for s, n in (("test", 3), ("train", 6), ("val", 3))]
    assert files == expected

    def refuse(*_: object) -> None:
        raise AssertionError("regenerated although a valid cache exists")

    monkeypatch.setattr(synthetic, "generate", refuse)
    second = load_data(_spec("fundus", seed=5))
    assert second.sha256 == first.sha256


@pytest.mark.parametrize("damage", [b"not a zip file", b""])
def test_corrupt_cache_is_regenerated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: bytes) -> None:
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))
    good = load_data(_spec("ct"))
    path = tmp_path / "synthetic" / f"ct-s0-32px-train-6-v{GENERATOR_VERSION}.npz"
    path.write_bytes(damage)
    again = load_data(_spec("ct"))
    assert again.sha256 == good.sha256
    with np.load(path) as npz:  # rewritten whole
        assert npz["images"].shape == (6, 32, 32, 1)
    assert not list(path.parent.glob("*.tmp"))


def test_unknown_family_suggests_the_closest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))
    spec = dataclasses.replace(_spec("xray"), source=SourceSpec("synthetic", {"family": "xrya"}))
    with pytest.raises(UnknownNameError, match="xray"):
        load_data(spec)
    with pytest.raises(UnknownNameError):
        generate("nope", 1, 32, 0)


@pytest.mark.parametrize("args, message", [
    ({}, "family is required"),
    ({"family": "xray", "seed": -1}, "non-negative"),
    ({"family": "xray", "seed": "1"}, "non-negative"),
    ({"family": "xray", "size": 3}, "unknown synthetic source arg"),
])
def test_bad_source_args_say_what_to_fix(args: dict, message: str) -> None:
    with pytest.raises(MedbenchError, match=message):
        LOADERS.get("synthetic").load(_spec("xray"), args, None)


def test_card_that_disagrees_with_its_family_is_rejected() -> None:
    with pytest.raises(MedbenchError, match="channels"):
        LOADERS.get("synthetic").load(dataclasses.replace(_spec("xray"), channels=3), {"family": "xray"}, None)
    with pytest.raises(MedbenchError, match="label_names"):
        LOADERS.get("synthetic").load(dataclasses.replace(_spec("xray"), label_names=("a", "b")), {"family": "xray"}, None)


def _card(name: str) -> TaskSpec:
    path = REPO_TASK_DIR / f"{name}.yaml"
    return parse_card(yaml.safe_load(path.read_text()), str(path))


@pytest.mark.parametrize("family", ALL)
def test_every_family_has_a_consistent_card(family: str) -> None:
    fam = FAMILIES.get(family)
    spec = _card(f"synth-{family}-cls")
    assert spec.source == SourceSpec("synthetic", {"family": family, "seed": 0})
    assert spec.label_names == fam.class_names and spec.channels == fam.channels and spec.image_size == 64
    expected = {"embedded", "synthetic", "downstream"} if fam.role == "downstream" else {"synthetic", "pretraining"}
    assert set(spec.tags) == expected
    if fam.role == "downstream":
        seg = _card(f"synth-{family}-seg")
        assert seg.kind == "segmentation" and seg.label_names == ("background", "lesion")
        assert set(seg.tags) == {"synthetic", "segmentation"} and seg.channels == fam.channels


def test_a_card_loads_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDBENCH_HOME", str(tmp_path))
    spec = dataclasses.replace(_card("synth-xray-cls"), splits={"train": 3, "val": 3, "test": 3})
    data = load_data(spec)
    assert data.train.images.shape == (3, 64, 64, 1) and data.test.targets.tolist() == [0, 1, 2]

"""The copy matcher: copies that were resized, squashed, cropped, re-encoded, turned gray, toned,
flipped or rotated are found among look-alikes; pictures without an original match nothing."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from harness.copies import (
    DEFAULT_RULE, KINDS, Catalogue, CopyRule, Reference, copies_in, copy_clusters, copy_pairs, pairs_between,
)
from harness.data import load_data
from harness.errors import MedbenchError


def pictures(n: int, side: int = 96, seed: int = 0) -> list[np.ndarray]:
    """Look-alike RGB pictures: one shared layout plus smooth per-picture structure at two scales."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side] / side
    layout = 90 * np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.08)
    out = []
    for _ in range(n):
        own = gaussian_filter(rng.normal(0, 1, (side, side)), 3) * 180 + gaussian_filter(rng.normal(0, 1, (side, side)), 8) * 300
        gray = np.clip(80 + layout + own, 0, 255)
        out.append(np.stack([gray, gray * 0.8 + 20, gray * 0.6 + 40], axis=2).astype(np.uint8))
    return out


def jpeg(img: np.ndarray, quality: int = 40) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf))


def resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BILINEAR))


TRANSFORMS = {
    "resized to 28 px, gray": lambda x: np.asarray(Image.fromarray(resize(x, 28, 28)).convert("L")),
    "squashed": lambda x: resize(x, 60, 96),
    "center crop 72 %": lambda x: x[13:83, 13:83],
    "offset crop 75 %": lambda x: x[24:96, 0:72],
    "jpeg q40": jpeg,
    "toned": lambda x: np.clip(x * 0.8 + 30, 0, 255).astype(np.uint8),
    "mirrored": lambda x: x[:, ::-1],
    "flipped": lambda x: x[::-1],
    "rotated 90°": lambda x: np.rot90(x),
    "crop, 40 px, rotated 270°": lambda x: np.rot90(resize(x[10:90, 5:80], 40, 40), 3),
}


@pytest.fixture(scope="module")
def reference() -> list[np.ndarray]:
    return pictures(40)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_each_transformation_is_found_and_pictures_without_original_are_not(reference, name):
    transform = TRANSFORMS[name]
    originals = reference[:6]
    absent = pictures(6, seed=1)
    queries = [transform(img) for img in originals + absent]
    pairs = copies_in(queries, reference)
    found = {(p.query, p.reference) for p in pairs}
    assert {(i, i) for i in range(6)} <= found
    assert found <= {(i, i) for i in range(6)}  # no look-alike, and nothing for the absent pictures
    kinds = {p.kind for p in pairs}
    assert kinds <= set(KINDS) - {"exact"}
    assert all(p.score >= DEFAULT_RULE.min_correlation for p in pairs)


def test_kinds_exact_near_transformed(reference):
    queries = [reference[0].copy(), jpeg(reference[1], 60), reference[2][:, ::-1]]
    kinds = {p.query: p.kind for p in copies_in(queries, reference)}
    assert kinds == {0: "exact", 1: "near", 2: "transformed"}


def test_either_side_may_be_the_crop(reference):
    """The query is the larger picture: the reference is a crop of it (a benchmark image made by
    center-cropping a pretraining candidate)."""
    crops = [img[15:85, 10:80] for img in reference[:4]]
    pairs = copies_in(reference[:8], crops)
    assert {(p.query, p.reference) for p in pairs} == {(i, i) for i in range(4)}


def test_a_prepared_reference_finds_what_the_catalogue_finds_chunk_after_chunk(reference):
    """The CPMID leakage check prepares its reference once and matches every chunk against it."""
    prepared = Reference(Catalogue.of(reference))
    chunks = [[jpeg(img, 70) for img in reference[:3]] + pictures(2, seed=2), [img[::-1] for img in reference[5:8]]]
    for chunk in chunks:
        queries = Catalogue.of(chunk)
        assert pairs_between(queries, prepared) == pairs_between(queries, Catalogue.of(reference))
    assert {p.query for p in pairs_between(Catalogue.of(chunks[0]), prepared)} == {0, 1, 2}
    with pytest.raises(ValueError, match="prepare it again"):
        pairs_between(Catalogue.of(chunks[1]), prepared, replace(DEFAULT_RULE, min_correlation=0.9))


def test_prepared_queries_sharing_the_reference_mean_find_the_same_pairs(reference):
    """CPMID screening prepares each chunk once (views indexed, query embeddings kept) and matches it
    against many kept segments that share one mean; kept query embeddings may live on disk."""
    chunk = Catalogue.of([jpeg(img, 70) for img in reference[:3]] + [img[10:90, 5:95] for img in reference[5:7]]
                         + pictures(2, seed=3))
    segment = Reference(Catalogue.of(reference), spill_bytes=0, keep_queries=True)  # query embeddings on disk
    prepared = Reference(chunk, mean=segment.mean, keep_queries=True)
    expected = pairs_between(chunk, Reference(Catalogue.of(reference)))
    assert {p.query for p in expected} == {0, 1, 2, 3, 4}
    assert pairs_between(prepared, segment) == pairs_between(prepared, segment) == expected  # kept, read twice
    other_mean = Reference(chunk, keep_queries=True)  # its own mean: prepared again with the reference's
    assert pairs_between(other_mean, segment) == expected


def test_clusters_link_copies_transitively_in_a_mixed_size_stream(reference):
    a, b = reference[3], reference[4]
    images = iter([a, resize(a, 50, 50), b, a[5:90, 5:90][::-1], np.rot90(jpeg(b)), reference[5], reference[6]])
    ids = copy_clusters(images)
    assert ids.tolist() == [0, 0, 1, 0, 1, 2, 3]
    pairs = copy_pairs([a, a.copy(), reference[7]])
    assert [(p.query, p.reference, p.kind) for p in pairs] == [(0, 1, "exact")]


def test_rule_description_survives_a_json_round_trip():
    described = CopyRule(crop_fractions=(1.0, 0.8)).describe()
    assert json.loads(json.dumps(described)) == described
    assert described["crop_fractions"] == [1.0, 0.8]


def test_bad_images_are_refused_with_a_clear_error():
    with pytest.raises(MedbenchError, match="uint8"):
        copy_clusters([np.zeros((8, 8), np.float32)])
    with pytest.raises(MedbenchError, match="batch"):
        copy_clusters(np.zeros((8, 8), np.uint8))
    assert copy_clusters([]).tolist() == []
    assert copies_in([], pictures(2)) == []


def test_look_alikes_of_one_source_are_not_copies_in_a_reference_that_mixes_sources():
    """Verification subtracts each source's own mean picture: with one mean over derm + CT pictures,
    the CT anatomy is only half removed and 100 new CT pictures 'copy' the kept ones (the old cpmid-synth
    build lost 158 CT images that way). 40 queries: too few for a mean picture of their own, so the
    second opinion with the queries' mean cannot stand in for the labels."""
    from harness.tasks import get_task

    derm = load_data(get_task("synth-derm-cls")).split("train").images[:300]
    ct = load_data(get_task("synth-ct-cls")).split("train").images[:340]
    queries = ct[300:]
    labelled = Catalogue.joined([Catalogue.of(derm, source=0), Catalogue.of(ct[:300], source=1)])
    assert pairs_between(Catalogue.of(queries, source=1), labelled) == []
    one_source = Catalogue.of(list(derm) + list(ct[:300]))
    assert len(pairs_between(Catalogue.of(queries), one_source)) > 10  # what labelling sources prevents

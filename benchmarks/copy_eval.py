"""Measured evaluation of the copy matcher (issue 16, item 3), on ../shared/data.

(a) Synthetic pairs: for each of the six real folder releases, a seeded sample of pictures is split
into ORIGINALS (kept in the reference, with look-alike FILLERS: other pictures of the same classes)
and ABSENT pictures (not in the reference). Every transformation below is applied to both; a
transformed original must match its original (recall), a transformed absent picture must match
nothing (false-positive rate per query: any match at all counts). Exact duplicates within a release
are removed from the sample first (their matches would be right, not false).
(b) The two real pairs: PneumoniaMNIST test vs the Kermany test folder, BreastMNIST val+test vs the
BUSI folder: the share of downstream images with at least one match.

    python benchmarks/copy_eval.py                 # table with the rule's thresholds
    python benchmarks/copy_eval.py --calibrate     # thresholds from (a) only: FPR ≤ 0.1 %, best recall

Thresholds are never tuned on (b).
"""

from __future__ import annotations

import argparse
import io
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from harness.copies import DEFAULT_RULE, Catalogue, CopyRule, copy_pairs, pairs_between

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RELEASES = {  # name → (folder, glob of class folders' images)
    "kermany_cxr": ("kermany_cxr/chest_xray", "*/*/*.jpeg"),
    "brain_mri": ("brain_tumor_mri_train/Training", "*/*.jpg"),
    "ham10000": ("ham10000", "*/*.jpg"),
    "blood_cells": ("pbc_blood_cells/PBC_dataset_normal_DIB", "*/*.jpg"),
    "lc25000": ("lc25000_lung/lung_image_sets", "*/*.jpeg"),
    "busi": ("busi", "*/*.png"),
}
ORIGINALS, ABSENT, FILLERS = 20, 20, 80
STRICT = replace(DEFAULT_RULE, min_correlation=0.98, min_detail_correlation=0.9)  # copies already in a release


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf))


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BILINEAR))


def _crop(img: np.ndarray, fy: float, fx: float, oy: float, ox: float) -> np.ndarray:
    """Keep fy×fx of the sides; oy, ox in [0, 1] place the window (0.5 = centred)."""
    h, w = img.shape[:2]
    ch, cw = round(h * fy), round(w * fx)
    y, x = round((h - ch) * oy), round((w - cw) * ox)
    return img[y:y + ch, x:x + cw]


def _tone(img: np.ndarray) -> np.ndarray:
    return np.clip((img.astype(np.float64) - 128) * 0.85 + 128 + 15, 0, 255).astype(np.uint8)


def _swap_mode(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[2] == 3:
        return np.asarray(Image.fromarray(img).convert("L"))
    return np.repeat(img.reshape(*img.shape[:2], 1), 3, axis=2)


def _offset_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _crop(img, rng.uniform(0.7, 0.9), rng.uniform(0.7, 0.9), rng.uniform(0, 1), rng.uniform(0, 1))


TRANSFORMS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "resize_28px": lambda x, r: _resize(x, 28, 28),
    "resize_x1.5": lambda x, r: _resize(x, int(x.shape[0] * 1.5), int(x.shape[1] * 1.5)),
    "squash_0.6": lambda x, r: _resize(x, int(x.shape[0] * 0.6), x.shape[1]),
    "center_crop_70": lambda x, r: _crop(x, 0.7, 0.7, 0.5, 0.5),
    "offset_crop_70-90": _offset_crop,
    "jpeg_q30": lambda x, r: _jpeg(x, 30),
    "gray<->rgb": lambda x, r: _swap_mode(x),
    "brightness_contrast": lambda x, r: _tone(x),
    "hflip": lambda x, r: x[:, ::-1].copy(),
    "vflip": lambda x, r: x[::-1].copy(),
    "rot90": lambda x, r: np.rot90(x, 1).copy(),
    "rot270": lambda x, r: np.rot90(x, 3).copy(),
    "crop+28px+jpeg+flip": lambda x, r: _jpeg(_resize(_offset_crop(x, r), 28, 28), 60)[:, ::-1].copy(),
}


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L") if image.mode in ("L", "1", "I", "I;16") else image.convert("RGB"))


def sample_release(name: str, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(originals, absent, fillers) of one release: distinct decoded pictures, classes mixed in the
    release's proportions (fillers are look-alikes: same modality and classes)."""
    folder, pattern = RELEASES[name]
    files = sorted((DATA / folder).glob(pattern))
    rng = np.random.default_rng(seed)
    wanted = ORIGINALS + ABSENT + FILLERS
    images = [_load(files[i]) for i in rng.permutation(len(files))[:int(wanted * 1.3)]]
    # a release's own copies (same frame twice, augmented copies) would make a right match look false:
    # drop the later member of every pair the strictest rule links, on the untransformed pictures
    dropped = {p.reference for p in copy_pairs(images, STRICT)}
    picked = [img for i, img in enumerate(images) if i not in dropped][:wanted]
    if len(picked) < wanted:
        raise SystemExit(f"{name}: only {len(picked)} distinct pictures in the sample, {wanted} needed")
    return picked[:ORIGINALS], picked[ORIGINALS:ORIGINALS + ABSENT], picked[ORIGINALS + ABSENT:]


def synthetic_scores(rule: CopyRule, releases: list[str], log: Path | None = None) -> list[dict]:
    """Per release × transformation × query: every match's scores (one JSON line per query to `log`)."""
    rows = []
    for name in releases:
        originals, absent, fillers = sample_release(name)
        reference = Catalogue.of(originals + fillers)
        for t_name, transform in TRANSFORMS.items():
            rng = np.random.default_rng(1)
            queries = [transform(img, rng) for img in originals + absent]
            started = time.perf_counter()
            pairs = pairs_between(Catalogue.of(queries), reference, rule)
            seconds = time.perf_counter() - started
            best: dict[int, list] = {}
            for p in pairs:
                best.setdefault(p.query, []).append(p)
            for q in range(len(queries)):
                found = best.get(q, [])
                rows.append({"release": name, "transform": t_name, "positive": q < ORIGINALS, "seconds": seconds,
                             "matches": [(p.reference, p.score, p.detail) for p in found], "target": q})
                if log:
                    with open(log, "a") as handle:
                        handle.write(json.dumps(rows[-1]) + "\n")
    return rows


def decide(rows: list[dict], corr: float, detail: float) -> tuple[dict, dict]:
    """Recall and per-query FPR at thresholds (corr, detail) from recorded scores."""
    recall: dict[str, list[int]] = {}
    fpr: dict[str, list[int]] = {}
    for row in rows:
        hits = {ref for ref, c, d in row["matches"] if c >= corr and d >= detail}
        key = row["transform"]
        if row["positive"]:
            recall.setdefault(key, [0, 0])
            recall[key][0] += row["target"] in hits
            recall[key][1] += 1
        else:
            fpr.setdefault(key, [0, 0])
            fpr[key][0] += bool(hits)
            fpr[key][1] += 1
    return recall, fpr


def calibrate(rows: list[dict]) -> tuple[float, float]:
    """The thresholds with the best mean recall whose pooled per-query FPR is ≤ 0.1 %."""
    best = (-1.0, 0.0, 0.0)
    for corr in np.arange(0.80, 0.995, 0.01):
        for detail in np.arange(0.40, 0.96, 0.025):
            recall, fpr = decide(rows, corr, detail)
            wrong, total = map(sum, zip(*fpr.values()))
            if wrong <= 0.001 * total:
                mean = np.mean([hit / n for hit, n in recall.values()])
                if mean > best[0]:
                    best = (mean, round(float(corr), 3), round(float(detail), 3))
    return best[1], best[2]


ORACLE_FRACTIONS = np.round(np.arange(0.30, 1.001, 0.02), 2)
ORACLE_MIN_CORRELATION = 0.97


def kermany_originals(pneumonia: np.ndarray, files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """(index of each PneumoniaMNIST image's original among `files` or -1, its correlation), by brute
    force and independent of the matcher: MedMNIST center-cropped each film to a square, and the
    shared copy squashed the films to 224×224, so the original is a centred box keeping a fraction
    (30–100 %) of one side of its film; every such box of every film, resized to 28 px, is correlated
    with every image. Accepted at ≥ ORACLE_MIN_CORRELATION (measured: the best box of a film that is not
    the original scored ≤ 0.952 even with offsets, flips and the train folder; originals ≥ 0.987)."""
    def standard(x: np.ndarray) -> np.ndarray:
        x = x.reshape(len(x), -1).astype(np.float32)
        return (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)

    films = [Image.open(f).convert("L") for f in files]
    queries = standard(pneumonia)
    best, where = np.full(len(pneumonia), -1.0), np.full(len(pneumonia), -1)
    for axis in (0, 1):
        for f in ORACLE_FRACTIONS:
            boxes = [(0, (1 - f) / 2 * h, w, (1 + f) / 2 * h) if axis == 0 else ((1 - f) / 2 * w, 0, (1 + f) / 2 * w, h)
                     for w, h in (film.size for film in films)]
            crops = np.stack([np.asarray(film.resize((28, 28), Image.Resampling.BILINEAR, box=box))
                              for film, box in zip(films, boxes)])
            scores = queries @ standard(crops).T / queries.shape[1]
            better = scores.max(1) > best
            best[better], where[better] = scores.max(1)[better], scores.argmax(1)[better]
    return np.where(best >= ORACLE_MIN_CORRELATION, where, -1), best


def real_pairs(rule: CopyRule) -> dict[str, dict]:
    """(b): downstream images with a match among their source release's pictures; for PneumoniaMNIST
    also the share of those whose original is in the shared folder (`kermany_originals`)."""
    out = {}
    pneumonia = np.load(DATA / "medmnist/pneumoniamnist.npz")
    kermany = sorted((DATA / "kermany_cxr/chest_xray/test").glob("*/*.jpeg"))
    breast = np.load(DATA / "medmnist/breastmnist.npz")
    busi = sorted((DATA / "busi").glob("*/*.png"))
    cases = {
        "PneumoniaMNIST test vs Kermany test folder": (pneumonia["test_images"], kermany),
        "BreastMNIST val+test vs BUSI": (np.concatenate([breast["val_images"], breast["test_images"]]), busi),
    }
    for name, (downstream, files) in cases.items():
        started = time.perf_counter()
        pairs = pairs_between(Catalogue.of(downstream), Catalogue.of(_load(f) for f in files), rule)
        found = {p.query for p in pairs}
        out[name] = {"found": len(found), "of": len(downstream), "recall": round(len(found) / len(downstream), 4),
                     "pairs": len(pairs), "seconds": round(time.perf_counter() - started, 1),
                     "missed": sorted(set(range(len(downstream))) - found)}
    original, score = kermany_originals(pneumonia["test_images"], kermany)
    present = set(np.flatnonzero(original >= 0).tolist())
    pairs_found = set(range(len(original))) - set(out["PneumoniaMNIST test vs Kermany test folder"]["missed"])
    out["PneumoniaMNIST test vs Kermany test folder"]["oracle"] = {
        "original_in_folder": len(present), "found_of_those": len(present & pairs_found),
        "recall_of_those": round(len(present & pairs_found) / max(1, len(present)), 4),
        "found_without_oracle_original": len(pairs_found - present),
        "lowest_oracle_score_found": round(float(score[sorted(pairs_found)].min()), 4) if pairs_found else None,
        "highest_oracle_score_absent": round(float(score[original < 0].max()), 4) if (original < 0).any() else None,
        "missed_with_original": sorted(present - pairs_found)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibrate", action="store_true", help="choose thresholds on (a) and report with them")
    parser.add_argument("--releases", default=",".join(RELEASES), help="comma-separated subset of releases for (a)")
    parser.add_argument("--skip-real", action="store_true", help="leave out (b)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--scores", type=Path, help="append every query's matches and scores here, one JSON line each")
    args = parser.parse_args()
    rule = replace(DEFAULT_RULE, min_correlation=-1.0, min_detail_correlation=-1.0) if args.calibrate else DEFAULT_RULE
    rows = synthetic_scores(rule, args.releases.split(","), args.scores)
    corr, detail = calibrate(rows) if args.calibrate else (DEFAULT_RULE.min_correlation, DEFAULT_RULE.min_detail_correlation)
    recall, fpr = decide(rows, corr, detail)
    print(f"(a) synthetic pairs, {len(args.releases.split(','))} releases × {ORIGINALS} originals + {ABSENT} absent "
          f"(reference: originals + {FILLERS} look-alikes); thresholds correlation ≥ {corr}, detail ≥ {detail}")
    print("| transformation | recall | FPR per query |\n|---|---|---|")
    for key in TRANSFORMS:
        print(f"| {key} | {recall[key][0]}/{recall[key][1]} ({recall[key][0] / recall[key][1]:.1%}) "
              f"| {fpr[key][0]}/{fpr[key][1]} ({fpr[key][0] / fpr[key][1]:.2%}) |")
    per_release: dict[str, list[int]] = {}
    for row in rows:
        if not row["positive"]:
            hits = [ref for ref, c, d in row["matches"] if c >= corr and d >= detail]
            per_release.setdefault(row["release"], [0, 0])
            per_release[row["release"]][0] += bool(hits)
            per_release[row["release"]][1] += 1
    print("FPR per release (absent queries with any match): "
          + ", ".join(f"{k} {a}/{b}" for k, (a, b) in per_release.items()))
    figures = {"thresholds": [corr, detail], "recall": recall, "fpr": fpr, "fpr_per_release": per_release}
    if not args.skip_real:
        real = real_pairs(replace(DEFAULT_RULE, min_correlation=corr, min_detail_correlation=detail))
        print("(b) real pairs")
        for name, r in real.items():
            print(f"  {name}: {r['found']}/{r['of']} ({r['recall']:.1%}), {r['pairs']} pairs, {r['seconds']} s")
            if "oracle" in r:
                o = r["oracle"]
                print(f"    original in the folder (brute force, matcher-independent): {o['original_in_folder']}; "
                      f"found {o['found_of_those']} of those ({o['recall_of_those']:.1%}); missed "
                      f"{o['missed_with_original']}; found without one: {o['found_without_oracle_original']}; "
                      f"oracle score: lowest found {o['lowest_oracle_score_found']}, highest without original "
                      f"{o['highest_oracle_score_absent']}")
        figures["real"] = real
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()

"""Build a ~20,000-image folder dataset from the shared releases (plus planted transformed copies)
and its task card, to time `medbench data audit` on real files.

    python benchmarks/audit_folder.py --out /tmp/audit20k        # builds the folder and the card
    MEDBENCH_TASK_DIRS=/tmp/audit20k/cards time medbench data audit real-mix --data-dir /tmp/audit20k --json

Every image of the six shared folder releases and of Kvasir-SEG-200 is linked in (one class per
release: 16,071 files); PLANTED more are written as JPEG copies of seeded random ones, each resized,
cropped to 75-95 % per side, mirrored or rotated, so the audit has known copies to find (their
sources are listed in planted.csv). Nothing is written outside --out.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RELEASES = {
    "brain_mri": "brain_tumor_mri_train/Training/*/*.jpg",
    "blood_cells": "pbc_blood_cells/PBC_dataset_normal_DIB/*/*.jpg",
    "kermany_cxr": "kermany_cxr/chest_xray/*/*/*.jpeg",
    "ham10000": "ham10000/*/*.jpg",
    "lc25000": "lc25000_lung/lung_image_sets/*/*.jpeg",
    "busi": "busi/*/*.png",
    "kvasir": "kvasir_seg_200/images/*.jpg",
}
PLANTED = 4000


def planted_copy(path: Path, rng: np.random.Generator) -> Image.Image:
    with Image.open(path) as image:
        image = image.convert("RGB")
    w, h = image.size
    fw, fh = rng.uniform(0.75, 0.95, 2)
    x, y = rng.uniform(0, 1 - fw) * w, rng.uniform(0, 1 - fh) * h
    image = image.crop((round(x), round(y), round(x + fw * w), round(y + fh * h)))
    image = image.resize((int(rng.integers(64, 300)), int(rng.integers(64, 300))), Image.Resampling.BILINEAR)
    return image.transpose([Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_90,
                            Image.Transpose.ROTATE_270, Image.Transpose.FLIP_TOP_BOTTOM][int(rng.integers(4))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    out = parser.parse_args().out
    images = out / "real-mix" / "images"
    rng = np.random.default_rng(0)
    files: dict[str, list[Path]] = {name: sorted(DATA.glob(pattern)) for name, pattern in RELEASES.items()}
    every = [(name, f) for name, found in files.items() for f in found]
    for i, (name, f) in enumerate(every):
        (images / name).mkdir(parents=True, exist_ok=True)
        link = images / name / f"{i:05d}{f.suffix}"
        if not link.exists():
            link.symlink_to(f)
    with open(out / "planted.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["copy", "source"])
        for k, i in enumerate(rng.choice(len(every), PLANTED, replace=False)):
            name, f = every[i]
            target = images / name / f"planted-{k:04d}.jpg"
            planted_copy(f, rng).save(target, "JPEG", quality=85)
            writer.writerow([str(target.relative_to(images)), f"{name}/{i:05d}{f.suffix}"])
    classes = sorted(files)
    counts = {name: len(found) for name, found in files.items()}
    total = len(every) + PLANTED
    train, val = round(total * 0.7), round(total * 0.1)
    card = {"name": "real-mix", "kind": "multiclass", "modality": "mixed",
            "description": "The shared folder releases in one folder (one class per release) plus planted copies: "
                           "a timing set for medbench data audit.",
            "source": {"loader": "image_folders", "args": {"root": "real-mix", "images": "images", "classes": classes,
                                                           "split": {"fractions": {"train": 0.7, "val": 0.1, "test": 0.2},
                                                                     "seed": 0}}},
            "label_names": classes, "channels": 3, "image_size": 64,
            "splits": {"train": train, "val": val, "test": total - train - val},
            "metrics": ["accuracy"], "license": "per release (see ../shared/data)", "citation": "see ../shared/data"}
    (out / "cards").mkdir(parents=True, exist_ok=True)
    (out / "cards" / "real-mix.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    print(f"{total} images ({counts}, planted {PLANTED}) under {images}; card {out / 'cards' / 'real-mix.yaml'}")


if __name__ == "__main__":
    main()

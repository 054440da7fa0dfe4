"""`--check-images DIR`: a submitter's pretraining images against the suite's evaluation images.

Declared dataset names can be incomplete; pixels cannot lie about overlap. Each image is decoded
(PNG and JPEG only, told from the content) and matched, at its own size, against each task's val
and test images with the CPMID leakage check's own index and rule (harness.cpmid.hygiene, built on
the shared matcher harness.copies): identical pixels, or a resized, cropped, re-encoded, toned,
flipped or rotated copy. Model selection on val leaks just as surely as test, so both are screened.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.copies import DEFAULT_RULE, Catalogue
from harness.cpmid.hygiene import LeakageIndex
from harness.errors import MedbenchError
from harness.tasks import TaskSpec

SUFFIXES = (".png", ".jpg", ".jpeg")
CHUNK = 256  # images decoded and matched at once


@dataclass(frozen=True)
class ImageMatch:
    file: str
    task: str
    split: str
    index: int
    match: str  # "exact", "near" or "transformed"
    score: float  # the matcher's verified correlation (1.0 for exact copies)


@dataclass
class ImageCheck:
    checked: int = 0
    unreadable: list[str] = field(default_factory=list)
    matches: list[ImageMatch] = field(default_factory=list)
    reference: dict[str, int] = field(default_factory=dict)  # task → val+test images compared against

    def tasks_hit(self) -> dict[str, int]:
        """Task → how many pretraining images match its val/test images."""
        hit: dict[str, set[str]] = {}
        for m in self.matches:
            hit.setdefault(m.task, set()).add(m.file)
        return {task: len(files) for task, files in sorted(hit.items())}


def check_images(folder: Path, tasks: list[TaskSpec], data_dir: Path | None = None) -> ImageCheck:
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise MedbenchError(f"no .png/.jpg/.jpeg files under {folder}; pass the folder of your pretraining images")
    indexes = []
    for task in tasks:
        index = LeakageIndex.from_tasks((task.name,), data_dir, task.image_size, _channels(task), DEFAULT_RULE)
        indexes.append((task, index))
    result = ImageCheck(reference={task.name: sum(index.counts().values()) for task, index in indexes})
    for start in range(0, len(files), CHUNK):
        decoded = []
        for path in files[start:start + CHUNK]:
            pixels = _decode(path)
            if pixels is None:
                result.unreadable.append(str(path))
            else:
                decoded.append((path, pixels))
        result.checked += len(decoded)
        catalogue = Catalogue.of(pixels for _, pixels in decoded)
        for task, index in indexes if decoded else ():
            for (path, _), leaks in zip(decoded, index.matches(catalogue)):
                result.matches += [ImageMatch(str(path), leak.task, leak.split, leak.index, leak.match, leak.score)
                                   for leak in leaks]
    return result


def _channels(task: TaskSpec) -> int:
    return 1 if task.channels == 1 else 3


def _decode(path: Path) -> np.ndarray | None:
    """(H, W, 1|3) uint8, or None when the file is not a PNG/JPEG PIL can decode safely."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=["PNG", "JPEG"]) as image:
                image.load()
                if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit / float: stretch to 8 bits
                    values = np.asarray(image, dtype=np.float64)
                    span = float(values.max() - values.min()) or 1.0
                    return np.round((values - values.min()) / span * 255).astype(np.uint8)[..., None]
                if image.mode in ("1", "L"):
                    return np.asarray(image.convert("L"))[..., None]
                return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError, ValueError):
        return None

"""Declared pretraining data vs the suite's tasks: results on data the weights have seen are flagged.

A task's data goes by several names: those its card declares (its name with and without the
-cls/-seg suffix, the data folder it reads, for MedMNIST the dataset flag and the collection's
name) and the common names of the public dataset behind it (`SAME_DATA`). Both sides are
normalised (case, spaces and punctuation dropped) and compared whole. The flag rests on what the
submitter declares; `medbench submit validate --check-images` compares actual pixels.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

from harness.submissions.text import normalised
from harness.tasks import TaskSpec

MEDMNIST_COLLECTION = ("MedMNIST", "MedMNIST v2", "MedMNIST+")

# Names of the same images. A task whose own names include one member is known by all of its
# group's names (one pass, so groups sharing a name do not merge). MedMNIST sources after Yang et
# al., Sci Data 2023, Table 1; "ISIC 2018" is both HAM10000 (Task 3) and the lesion masks (Task 1).
SAME_DATA: tuple[tuple[str, ...], ...] = (
    ("pathmnist", "NCT-CRC-HE-100K", "CRC-VAL-HE-7K"),
    ("chestmnist", "ChestX-ray14", "NIH ChestX-ray14", "ChestX-ray8"),
    ("dermamnist", "HAM10000", "ISIC 2018", "ISIC 2018 Task 3", "ISIC Archive"),
    ("octmnist", "OCT2017", "Kermany OCT"),
    ("pneumoniamnist", "ChestXRay2017", "Chest X-Ray Images (Pneumonia)", "Kermany chest X-ray"),
    ("retinamnist", "DeepDRiD"),
    ("breastmnist", "busi", "BUSI", "Breast Ultrasound Images Dataset", "Dataset_BUSI_with_GT"),
    ("bloodmnist", "PBC", "Acevedo blood cells"),
    ("tissuemnist", "BBBC051"),
    ("organamnist", "organcmnist", "organsmnist", "LiTS"),
    ("kvasir", "Kvasir-SEG", "Kvasir v2", "HyperKvasir"),
    ("isic2018", "ISIC 2018", "ISIC 2018 Task 1", "ISIC Archive"),
)


def dataset_names(task: TaskSpec) -> set[str]:
    """Every normalised name under which the task's data is known."""
    own = [task.name, re.sub(r"-(cls|seg)$", "", task.name)]
    root = task.source.args.get("root")
    if isinstance(root, str):
        own.append(PurePath(root).name)
    if task.source.loader == "medmnist":
        own += [medmnist_flag(task), *MEDMNIST_COLLECTION]
    names = {normalised(name) for name in own}
    for group in SAME_DATA:
        members = {normalised(name) for name in group}
        if members & names:
            names |= members
    return names - {""}


def medmnist_flag(task: TaskSpec) -> str:
    """'breastmnist.npz' or MedMNIST+'s 'breastmnist_224.npz' → 'breastmnist'."""
    stem = PurePath(str(task.source.args.get("file", task.name))).name.split(".")[0]
    return re.sub(r"_\d+$", "", stem).lower()


def contaminating(pretraining_data: list[str] | tuple[str, ...], task: TaskSpec) -> list[str]:
    """The declared datasets (as the submitter wrote them) that name this task's data."""
    names = dataset_names(task)
    return [declared for declared in pretraining_data if normalised(declared) in names]


def submission_fields(init_provenance: dict[str, Any], task: TaskSpec) -> dict[str, Any]:
    """Top-level record fields for a run from a submission; nothing for any other init source."""
    submission = init_provenance.get("submission")
    if not isinstance(submission, dict):
        return {}
    datasets = contaminating(submission.get("pretraining_data", ()), task)
    return {"submission": submission, "contaminated": bool(datasets), "contamination": {"datasets": datasets}}

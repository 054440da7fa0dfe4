"""Write the MedMNIST+ 2D task cards (12 sets × 28/64/128/224 px) from one transcribed table.

    python tasks/medmnist/generate_cards.py          # (re)write tasks/medmnist/*.yaml
    python tasks/medmnist/generate_cards.py --check  # exit 1 if a committed card differs

The table is transcribed from `medmnist/info.py` of the medmnist 3.0.2 wheel (labels, channels,
split sizes, license, md5 per file; every file lives in Zenodo record 10519652). Cards are named as
MedMNIST's flags: `breastmnist` is the 28 px file `breastmnist.npz`, `breastmnist_224` the MedMNIST+
file `breastmnist_224.npz`. Edit the table here, never the generated cards.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import yaml

HERE = Path(__file__).resolve().parent
SIZES = (28, 64, 128, 224)
URL = "https://zenodo.org/records/10519652/files/{file}?download=1"
HOMEPAGE = "https://medmnist.com/"
MEDMNIST_CITATION = ("Yang J. et al. MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical "
                     "image classification. Scientific Data 10, 41 (2023).")
METRICS = ["accuracy", "balanced_accuracy", "auroc", "f1_macro"]


class MedmnistSet(NamedTuple):
    title: str
    kind: str  # info.py "task": binary-class → binary, multi-class and ordinal-regression → multiclass, multi-label → multilabel
    modality: str
    what: str  # one line for the description
    channels: int
    splits: tuple[int, int, int]  # train, val, test (the same at every size)
    license: str  # info.py's license of the MedMNIST file
    source_license: str  # the license of the dataset it was derived from
    md5: dict[int, str]
    labels: tuple[str, ...]
    source_citation: str


SETS: dict[str, MedmnistSet] = {
    "pathmnist": MedmnistSet(
        title="PathMNIST", kind="multiclass", modality="histopathology (H&E)",
        what="colorectal cancer histology patches (NCT-CRC-HE-100K; test: CRC-VAL-HE-7K), 9 tissue types",
        channels=3, splits=(89996, 10004, 7180), license="CC BY 4.0", source_license="NCT-CRC-HE-100K: CC BY 4.0",
        md5={28: "a8b06965200029087d5bd730944a56c1", 64: "55aa9c1e0525abe5a6b9d8343a507616",
             128: "ac42d08fb904d92c244187169d1fd1d9", 224: "2c51a510bcdc9cf8ddb2af93af1eadec"},
        labels=("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
                "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
        source_citation="Kather J. N. et al. Predicting survival from colorectal cancer histology slides using deep "
                        "learning: a retrospective multicenter study. PLoS Medicine 16(1), e1002730 (2019).",
    ),
    "chestmnist": MedmnistSet(
        title="ChestMNIST", kind="multilabel", modality="chest X-ray",
        what="frontal chest X-rays (NIH ChestX-ray14), 14 text-mined findings, multi-label, official split",
        channels=1, splits=(78468, 11219, 22433), license="CC BY 4.0",
        source_license="NIH ChestX-ray14: released by the NIH Clinical Center without use restrictions, citation requested",
        md5={28: "02c8a6516a18b556561a56cbdd36c4a8", 64: "9de6cd0b934ebb5b7426cfba5efbae16",
             128: "db107e5590b27930b62dbaf558aebee3", 224: "45bd33e6f06c3e8cdb481c74a89152aa"},
        labels=("atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
                "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"),
        source_citation="Wang X. et al. ChestX-ray8: hospital-scale chest X-ray database and benchmarks on "
                        "weakly-supervised classification and localization of common thorax diseases. CVPR (2017).",
    ),
    "dermamnist": MedmnistSet(
        title="DermaMNIST", kind="multiclass", modality="dermoscopy",
        what="dermatoscopic images of pigmented skin lesions (HAM10000), 7 diagnoses",
        channels=3, splits=(7007, 1003, 2005), license="CC BY-NC 4.0", source_license="HAM10000: CC BY-NC 4.0, non-commercial",
        md5={28: "0744692d530f8e62ec473284d019b0c7", 64: "b70a2f5635c6199aeaa28c31d7202e1f",
             128: "2defd784463fa5243564e855ed717de1", 224: "8974907d8e169bef5f5b96bc506ae45d"},
        labels=("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"),
        source_citation="Tschandl P. et al. The HAM10000 dataset, a large collection of multi-source dermatoscopic "
                        "images of common pigmented skin lesions. Scientific Data 5, 180161 (2018). Codella N. et al. "
                        "Skin lesion analysis toward melanoma detection 2018: a challenge hosted by the International "
                        "Skin Imaging Collaboration (ISIC). arXiv:1902.03368 (2019).",
    ),
    "octmnist": MedmnistSet(
        title="OCTMNIST", kind="multiclass", modality="retinal OCT",
        what="retinal optical coherence tomography scans, 4 diagnoses",
        channels=1, splits=(97477, 10832, 1000), license="CC BY 4.0", source_license="Kermany et al. OCT: CC BY 4.0",
        md5={28: "c68d92d5b585d8d81f7112f81e2d0842", 64: "e229e9440236b774d9f0dfef9d07bdaf",
             128: "0a97e76651ace45c5d943ee3f65b63ae", 224: "abc493b6d529d5de7569faaef2773ba3"},
        labels=("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
        source_citation="Kermany D. S. et al. Identifying medical diagnoses and treatable diseases by image-based "
                        "deep learning. Cell 172(5), 1122-1131 (2018).",
    ),
    "pneumoniamnist": MedmnistSet(
        title="PneumoniaMNIST", kind="binary", modality="chest X-ray",
        what="pediatric chest X-rays, normal vs pneumonia",
        channels=1, splits=(4708, 524, 624), license="CC BY 4.0", source_license="Kermany et al. chest X-ray: CC BY 4.0",
        md5={28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6",
             128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"},
        labels=("normal", "pneumonia"),
        source_citation="Kermany D. S. et al. Identifying medical diagnoses and treatable diseases by image-based "
                        "deep learning. Cell 172(5), 1122-1131 (2018).",
    ),
    "retinamnist": MedmnistSet(
        title="RetinaMNIST", kind="multiclass", modality="fundus photography",
        what=("retina fundus images (DeepDRiD), diabetic-retinopathy grade 0-4; ordinal regression in MedMNIST, "
              "scored here as 5-class classification"),
        channels=3, splits=(1080, 120, 400), license="CC BY 4.0", source_license="DeepDRiD: see the challenge's terms",
        md5={28: "bd4c0672f1bba3e3a89f0e4e876791e4", 64: "afda852cc34dcda56f86ad2b2457dbcc",
             128: "e48e916a24454daf90583d4e6efb1a18", 224: "eae7e3b6f3fcbda4ae613ebdcbe35348"},
        labels=("0", "1", "2", "3", "4"),
        source_citation="Liu R. et al. DeepDRiD: diabetic retinopathy - grading and image quality estimation "
                        "challenge. Patterns 3(6), 100512 (2022).",
    ),
    "breastmnist": MedmnistSet(
        title="BreastMNIST", kind="binary", modality="ultrasound",
        what="breast ultrasound (BUSI), malignant vs normal+benign",
        channels=1, splits=(546, 78, 156), license="CC BY 4.0", source_license="BUSI (Al-Dhabyani et al. 2020): CC BY 4.0",
        md5={28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364",
             128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"},
        labels=("malignant", "normal, benign"),
        source_citation="Al-Dhabyani W. et al. Dataset of breast ultrasound images. Data in Brief 28, 104863 (2020).",
    ),
    "bloodmnist": MedmnistSet(
        title="BloodMNIST", kind="multiclass", modality="blood-cell microscopy",
        what="peripheral blood cell microscopy, 8 cell types",
        channels=3, splits=(11959, 1712, 3421), license="CC BY 4.0", source_license="Acevedo et al.: CC BY 4.0",
        md5={28: "7053d0359d879ad8a5505303e11de1dc", 64: "2b94928a2ae4916078ca51e05b6b800b",
             128: "adace1e0ed228fccda1f39692059dd4c", 224: "b718ff6835fcbdb22ba9eacccd7b2601"},
        labels=("basophil", "eosinophil", "erythroblast",
                "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte",
                "neutrophil", "platelet"),
        source_citation="Acevedo A. et al. A dataset of microscopic peripheral blood cell images for development of "
                        "automatic recognition systems. Data in Brief 30, 105474 (2020).",
    ),
    "tissuemnist": MedmnistSet(
        title="TissueMNIST", kind="multiclass", modality="kidney-cell microscopy",
        what="human kidney cortex cells (BBBC051), max projection of 7 slices, 8 cell types",
        channels=1, splits=(165466, 23640, 47280), license="CC BY 4.0",
        source_license="BBBC051: Broad Bioimage Benchmark Collection terms",
        md5={28: "ebe78ee8b05294063de985d821c1c34b", 64: "123ece2eba09d0aa5d698fda57103344",
             128: "61b955355d7425a89687b06cca3ce0c2", 224: "b077128c4a949f0a4eb01517f9037b9c"},
        labels=("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule", "Glomerular endothelial cells",
                "Interstitial endothelial cells", "Leukocytes", "Podocytes", "Proximal Tubule Segments",
                "Thick Ascending Limb"),
        source_citation="Woloshuk A. et al. In situ classification of cell types in human kidney tissue using 3D "
                        "nuclear staining. Cytometry Part A 99(7) (2021). Ljosa V. et al. Annotated high-throughput "
                        "microscopy image sets for validation. Nature Methods 9, 637 (2012).",
    ),
    "organamnist": MedmnistSet(
        title="OrganAMNIST", kind="multiclass", modality="abdominal CT",
        what="abdominal CT (LiTS), axial slices through 11 organs' bounding boxes",
        channels=1, splits=(34561, 6491, 17778), license="CC BY 4.0", source_license="LiTS: CC BY-NC-SA 4.0, non-commercial",
        md5={28: "68e3f8846a6bd62f0c9bf841c0d9eacc", 64: "2dcccc29b88e6da5a01161ef20cda288",
             128: "eeae80d0a227a8d099027e1b3cfd3b60", 224: "50747347e05c87dd3aaf92c49f9f3170"},
        labels=("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
                "lung-right", "pancreas", "spleen"),
        source_citation="Bilic P. et al. The Liver Tumor Segmentation Benchmark (LiTS). Medical Image Analysis 84, "
                        "102680 (2023). Xu X. et al. Efficient multiple organ localization in CT image using 3D "
                        "region proposal network. IEEE TMI 38(8), 1885-1898 (2019).",
    ),
    "organcmnist": MedmnistSet(
        title="OrganCMNIST", kind="multiclass", modality="abdominal CT",
        what="abdominal CT (LiTS), coronal slices through 11 organs' bounding boxes",
        channels=1, splits=(12975, 2392, 8216), license="CC BY 4.0", source_license="LiTS: CC BY-NC-SA 4.0, non-commercial",
        md5={28: "b9ceb9546e10131b32923c5bbeaea2b1", 64: "3ce34a8724ea6f548e6db4744d03b6a9",
             128: "773c1f009daa3fe5d9a2a201b2a7ed94", 224: "050f5e875dc056f6768abf94ec9995d1"},
        labels=("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
                "lung-right", "pancreas", "spleen"),
        source_citation="Bilic P. et al. The Liver Tumor Segmentation Benchmark (LiTS). Medical Image Analysis 84, "
                        "102680 (2023). Xu X. et al. Efficient multiple organ localization in CT image using 3D "
                        "region proposal network. IEEE TMI 38(8), 1885-1898 (2019).",
    ),
    "organsmnist": MedmnistSet(
        title="OrganSMNIST", kind="multiclass", modality="abdominal CT",
        what="abdominal CT (LiTS), sagittal slices through 11 organs' bounding boxes",
        channels=1, splits=(13932, 2452, 8827), license="CC BY 4.0", source_license="LiTS: CC BY-NC-SA 4.0, non-commercial",
        md5={28: "9ab87b696fb54e2a387ebe992d6ed5f1", 64: "53a6d115339d874c25e309a994ff46d3",
             128: "ded0c5fa01a95dc4978b956f613e9b8e", 224: "b354719e553fbbb2513d5533f52a4cb1"},
        labels=("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
                "lung-right", "pancreas", "spleen"),
        source_citation="Bilic P. et al. The Liver Tumor Segmentation Benchmark (LiTS). Medical Image Analysis 84, "
                        "102680 (2023). Xu X. et al. Efficient multiple organ localization in CT image using 3D "
                        "region proposal network. IEEE TMI 38(8), 1885-1898 (2019).",
    ),
}


def card_name(flag: str, size: int) -> str:
    """MedMNIST's own naming: the 28 px file has no size suffix."""
    return flag if size == 28 else f"{flag}_{size}"


def card(flag: str, size: int) -> dict[str, Any]:
    s = SETS[flag]
    name = card_name(flag, size)
    collection = "MedMNIST v2" if size == 28 else "MedMNIST+"
    colour = "gray" if s.channels == 1 else "RGB"
    return {
        "name": name,
        "kind": s.kind,
        "modality": s.modality,
        "description": f"{s.title} ({collection}): {s.what}; {size}×{size} {colour}, file {name}.npz.",
        "source": {"loader": "medmnist", "args": {"file": f"{name}.npz"}},
        "label_names": list(s.labels),
        "channels": s.channels,
        "image_size": size,
        "splits": dict(zip(("train", "val", "test"), s.splits)),
        "metrics": METRICS,
        "license": f"{s.license} (MedMNIST; source {s.source_license})",
        "homepage": HOMEPAGE,
        "url": URL.format(file=f"{name}.npz"),
        "md5": s.md5[size],
        "citation": f"{MEDMNIST_CITATION} {s.source_citation}",
        "tags": ["medmnist", "real", f"{size}px"],
    }


def render_cards() -> dict[str, str]:
    """File name → YAML text for every card."""
    header = "# Generated by tasks/medmnist/generate_cards.py from medmnist 3.0.2's info.py; edit the table there.\n"
    return {f"{card_name(flag, size)}.yaml": header + yaml.safe_dump(card(flag, size), sort_keys=False,
                                                                       allow_unicode=True, width=110)
            for flag in SETS for size in SIZES}


def main(argv: list[str]) -> int:
    cards = render_cards()
    if "--check" in argv:
        stale = [name for name, text in cards.items()
                 if not (HERE / name).is_file() or (HERE / name).read_text(encoding="utf-8") != text]
        extra = sorted(p.name for p in HERE.glob("*.yaml") if p.name not in cards)
        for name in stale + extra:
            print(f"out of date: {HERE / name}")
        return 1 if stale or extra else 0
    for name, text in cards.items():
        (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(cards)} cards to {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

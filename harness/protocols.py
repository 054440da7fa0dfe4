"""Named training protocols: every setting that changes a number, frozen, seeds included.

A record stores its protocol's full config, so two numbers are comparable exactly when their
protocol configs are equal. Values the CPMID paper does not report are our declared choices, and
each protocol says where its values come from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from harness.registry import Registry

PROTOCOLS: Registry["Protocol"] = Registry("protocol")


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    image_size: int | None  # None: the task card's native size
    epochs: int
    batch_size: int
    optimizer: str  # adamw | adam | sgd
    lr: float
    weight_decay: float
    schedule: str  # cosine | multistep | constant (per step, after warm-up)
    seeds: tuple[int, ...]
    warmup_epochs: float = 0.0
    milestones: tuple[float, ...] = ()  # multistep: fractions of training
    gamma: float = 0.1
    momentum: float = 0.9
    augmentation: str = "none"  # none | flip | flip_crop (batched tensor ops)
    select_on: str = "auroc"  # validation metric for classification model selection
    select_on_segmentation: str = "iou"
    stem: str = "default"  # default | small (MedMNIST's 3×3 stride-1 ResNet stem, no max-pool)
    train_limit: int | None = None  # cap on training images (smoke tests only)
    eval_limit: int | None = None  # cap on val/test images (smoke tests only)
    eval_batch_size: int = 256
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_overrides(self, **changes: Any) -> "Protocol":
        """A variant (e.g. fewer seeds, another stem); the record keeps the effective config."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def _register(protocol: Protocol) -> Protocol:
    return PROTOCOLS.add(protocol.name, protocol)


SMOKE = _register(Protocol(
    name="smoke",
    description="Seconds on a CPU: proves the pipeline runs end to end; the numbers mean nothing.",
    image_size=32, epochs=1, batch_size=32, optimizer="adamw", lr=1e-3, weight_decay=0.05,
    schedule="constant", seeds=(0,), augmentation="flip", train_limit=96, eval_limit=96,
    source="medbench test protocol",
))

QUICK = _register(Protocol(
    name="quick",
    description="Minutes on 2 CPU cores at the task's native size: the embedded demo and CI-scale comparisons.",
    image_size=None, epochs=6, batch_size=64, optimizer="adamw", lr=2e-3, weight_decay=0.05,
    schedule="cosine", warmup_epochs=1.0, seeds=(0, 1, 2), augmentation="flip_crop",
    source="medbench declared choice: AdamW + cosine with warm-up, as timm fine-tuning recipes use",
))

PAPER = _register(Protocol(
    name="paper",
    description="GPU, 224 px, five seeds: our declared stand-in for the CPMID paper's unreported fine-tuning setup.",
    image_size=224, epochs=30, batch_size=64, optimizer="adamw", lr=1e-4, weight_decay=0.05,
    schedule="cosine", warmup_epochs=1.0, seeds=(0, 1, 2, 3, 4), augmentation="flip_crop",
    source=("declared choice following MedMNIST+ (Doerrich et al. 2024) end-to-end fine-tuning at 224 px: "
            "AdamW lr 1e-4, batch 64, cosine schedule; epochs and seeds are ours"),
))

MEDMNIST_V2 = _register(Protocol(
    name="medmnist-v2",
    description="MedMNIST v2's published recipe (Table 3): Adam 1e-3, batch 128, 100 epochs, lr ×0.1 at 50% and 75%.",
    image_size=None, epochs=100, batch_size=128, optimizer="adam", lr=1e-3, weight_decay=0.0,
    schedule="multistep", milestones=(0.5, 0.75), gamma=0.1, seeds=(0, 1, 2), augmentation="none",
    select_on="auroc", stem="small",
    source="Yang et al., MedMNIST v2, Sci Data 2023, Sec. Experiments; MedMNIST/experiments train_and_eval_pytorch.py",
))

REAL_CPU = _register(Protocol(
    name="real-cpu",
    description=("The real study on 2 shared CPU cores (leaderboards/real-cpu.yaml): 64 px, 4 epochs, at most 500 "
                 "training images per task, three seeds; sized by a timed cell so the whole grid runs in about 50 minutes."),
    image_size=64, epochs=4, batch_size=32, optimizer="adamw", lr=1e-3, weight_decay=0.05,
    schedule="cosine", warmup_epochs=0.5, seeds=(0, 1, 2), augmentation="flip_crop", train_limit=500,
    source="medbench declared choice sized by a timed cell (results/real-cpu-v1/README.md); AdamW + cosine as quick",
))

# Supervised pretraining on a built CPMID. `medbench run --init cpmid --protocol X` pretrains with
# PRETRAINING_FOR[X] when no release exists yet, so a demo's transfer test stays within its budget.
PRETRAIN_SMOKE = _register(Protocol(
    name="pretrain-smoke",
    description="Seconds: proves pretraining and release writing work; the weights are nearly untrained.",
    image_size=32, epochs=1, batch_size=32, optimizer="adamw", lr=1e-3, weight_decay=0.05, schedule="constant",
    seeds=(0,), augmentation="flip", select_on="accuracy", train_limit=256, eval_limit=128,
    source="medbench test protocol",
))

PRETRAIN_QUICK = _register(Protocol(
    name="pretrain-quick",
    description="A few minutes on 2 CPU cores: pretrains on cpmid-synth at its native 64 px for the embedded demo.",
    image_size=None, epochs=5, batch_size=64, optimizer="adamw", lr=2e-3, weight_decay=0.05, schedule="cosine",
    warmup_epochs=1.0, seeds=(0,), augmentation="flip_crop", select_on="accuracy",
    source="medbench declared choice (AdamW + cosine with warm-up)",
))

PRETRAIN_PAPER = _register(Protocol(
    name="pretrain-paper",
    description="GPU, 224 px: supervised pretraining on a full CPMID build.",
    image_size=224, epochs=100, batch_size=256, optimizer="adamw", lr=1e-3, weight_decay=0.05, schedule="cosine",
    warmup_epochs=5.0, seeds=(0,), augmentation="flip_crop", select_on="accuracy",
    source="declared choice: timm-style supervised ImageNet recipe scaled down (AdamW, cosine, 5 warm-up epochs)",
))

PRETRAIN_REAL_CPU = _register(Protocol(
    name="pretrain-real-cpu",
    description="Pretraining for the real-cpu study on 2 shared CPU cores: 64 px, 3 epochs over at most 4000 images of a build.",
    image_size=64, epochs=3, batch_size=64, optimizer="adamw", lr=2e-3, weight_decay=0.05, schedule="cosine",
    warmup_epochs=0.5, seeds=(0,), augmentation="flip_crop", select_on="accuracy", train_limit=4000,
    source="medbench declared choice (as pretrain-quick), sized by a timed cell (results/real-cpu-v1/README.md)",
))

PRETRAINING_FOR = {"smoke": "pretrain-smoke", "quick": "pretrain-quick", "paper": "pretrain-paper",
                   "medmnist-v2": "pretrain-quick", "real-cpu": "pretrain-real-cpu"}


def pretraining_protocol(name: str) -> Protocol:
    """`quick` or `pretrain-quick` → the pretraining protocol; any other name is looked up as given."""
    return PROTOCOLS.get(PRETRAINING_FOR.get(name, name))

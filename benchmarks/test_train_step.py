"""The harness's training step against a bare PyTorch loop: same model, batch, optimizer and device.

Both time one optimizer step of timm resnet18 on a 32-image batch of 64 px gray images. The harness
step also converts the uint8 batch, augments it on the fly and steps the lr schedule; the bare loop
takes a ready float batch. `train_step_ratio` = bare time ÷ harness time (1.0 = no overhead).
"""

from __future__ import annotations

import numpy as np
import pytest
import timm.optim
import torch

from harness.data.arrays import ArrayDataset
from harness.data.batches import BatchTransform, prepare_split
from harness.engine import TrainingRun
from harness.objectives import objective_for
from harness.models import build_classifier
from harness.protocols import PROTOCOLS

BATCH, SIZE = 32, 64
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    split = prepare_split(ArrayDataset(rng.integers(0, 255, (BATCH, SIZE, SIZE, 1), dtype=np.uint8),
                                       np.arange(BATCH) % 4), SIZE, "multiclass", CPU)
    return split.images, split.targets


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_classifier("resnet18", 4, 1, SIZE)


def test_harness_train_step(benchmark, batch):
    protocol = PROTOCOLS.get("quick")
    run = TrainingRun(_model(), objective_for("multiclass", 4, protocol), protocol, 0,
                      BatchTransform((0.5,), (0.25,), protocol.augmentation, CPU), CPU)
    optimizer, scheduler = run.make_optimizer(steps_per_epoch=10_000)
    run.model.train()
    benchmark.pedantic(run.train_step, args=(*batch, optimizer, scheduler), rounds=8, warmup_rounds=2)


def test_bare_pytorch_train_step(benchmark, batch):
    model = _model().train()
    x = (batch[0].float() / 255 - 0.5) / 0.25
    optimizer = timm.optim.create_optimizer_v2(model, opt="adamw", lr=2e-3, weight_decay=0.05)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), batch[1])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    benchmark.pedantic(step, rounds=8, warmup_rounds=2)

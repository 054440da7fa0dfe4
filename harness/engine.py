"""Train, select on validation, evaluate on test: one seeded run of one protocol.

The engine knows nothing about where data or weights come from; it takes prepared arrays, a
model and a protocol, and returns metrics, efficiency figures and a per-epoch history.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import timm.optim
import torch
from torch import nn
from tqdm import tqdm

from harness import distributed
from harness.atomic import write_atomic
from harness.data.batches import BatchTransform, batch_order
from harness.data.prepare import PreparedSplit
from harness.efficiency import (
    PeakMemory,
    count_params,
    flops_per_image,
    learning_speed,
    measure_inference,
)
from harness.errors import MedbenchError
from harness.metric_catalogue import HISTORY
from harness.objectives import Objective, selection_score
from harness.protocols import Protocol
from harness.skips import skips

DIVERGENCE_CHECK_EVERY = 20  # steps between loss finiteness checks (each check syncs the device)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed every RNG and ask PyTorch for deterministic kernels, so a seed gives the same numbers twice."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic


def mixed_precision(device: torch.device) -> tuple[torch.autocast, str]:
    """bf16 autocast on CUDA, full precision on a CPU; the name goes into records and cache keys."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16), "bfloat16"
    return torch.autocast("cpu", enabled=False), "float32"


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MedbenchError(f"--device {name} asked for, but PyTorch sees no CUDA device here; use --device cpu")
    return torch.device(name)


def lr_factor(protocol: Protocol, total_steps: int, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base lr at each optimizer step: linear warm-up, then the protocol's schedule."""
    warmup = int(round(protocol.warmup_epochs * steps_per_epoch))
    milestones = [int(m * total_steps) for m in protocol.milestones]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if protocol.schedule == "cosine":
            progress = (step - warmup) / max(1, total_steps - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        if protocol.schedule == "multistep":
            return protocol.gamma ** sum(step >= m for m in milestones)
        return 1.0

    if protocol.schedule not in ("cosine", "multistep", "constant"):
        raise MedbenchError(f"unknown schedule {protocol.schedule!r}; choose cosine, multistep or constant")
    return factor


@dataclass
class Outcome:
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_last_epoch: dict[str, Any] = field(default_factory=dict)
    val_metrics: dict[str, Any] = field(default_factory=dict)
    efficiency: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class SpeedOptions:
    """How a run trades bit-reproducibility and start-up time for speed; recorded with every result.

    `fast` (seed_everything(deterministic=False)) lets cuDNN pick kernels by timing them and allows TF32;
    `channels_last` (None: on CUDA only, where convolutions gain from it) changes the memory
    layout, not the numbers; `compile` wraps the model in torch.compile (pays on long GPU runs).
    """

    fast: bool = False
    channels_last: bool | None = None
    compile: bool = False

    def resolved(self, device: torch.device) -> "SpeedOptions":
        layout = device.type == "cuda" if self.channels_last is None else self.channels_last
        return dataclasses.replace(self, channels_last=layout)


class TrainingRun:
    """One fine-tuning run of a model under a protocol, on already prepared tensors."""

    def __init__(self, model: nn.Module, objective: Objective, protocol: Protocol, seed: int,
                 transform: BatchTransform, device: torch.device, speed: SpeedOptions = SpeedOptions()) -> None:
        self.speed = speed.resolved(device)
        self.model = distributed.prepare(model, device).to(device)
        if self.speed.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            transform.memory_format = torch.channels_last
        self.forward = torch.compile(self.model) if self.speed.compile else self.model
        self.train_forward = self.forward  # under torchrun: the DDP wrapper, which all-reduces gradients
        if distributed.world_size() > 1:
            distributed.check_batch(protocol.batch_size)
            ddp = distributed.data_parallel(self.model, device)
            self.train_forward = torch.compile(ddp) if self.speed.compile else ddp
        self.objective = objective
        self.protocol = protocol
        self.transform = transform
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self.autocast, _ = mixed_precision(device)
        self.loss_fn = objective.loss_fn()

    def _selection_value(self, metrics: dict[str, Any]) -> float:
        return selection_score(metrics, self.objective.select_on)

    def make_optimizer(self, steps_per_epoch: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """timm's optimizer factory (no weight decay on norms and biases) and the protocol's per-step schedule."""
        p = self.protocol
        fused = {"fused": True} if self.device.type == "cuda" and p.optimizer in ("adam", "adamw") else {}
        optimizer = timm.optim.create_optimizer_v2(self.model, opt=p.optimizer, lr=p.lr, weight_decay=p.weight_decay,
                                                   momentum=p.momentum, **fused)
        schedule = lr_factor(p, p.epochs * steps_per_epoch, steps_per_epoch)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

    def train_step(self, images: torch.Tensor, targets: torch.Tensor, optimizer: torch.optim.Optimizer,
                   scheduler: torch.optim.lr_scheduler.LRScheduler, batch_size: int | None = None) -> torch.Tensor:
        """One optimizer step on a uint8 batch; returns the detached loss (no device sync).

        Under torchrun `images` are this rank's rows (`distributed.train_rows`) of a global batch of
        `batch_size`: augmentation is drawn for the whole batch (so the generator stays in step with a
        single-process run), and the returned loss is this rank's share of the batch mean.
        """
        batch_size = batch_size or len(images)
        x, warped = self.transform(images, self.generator, targets if self.objective.dense else None,
                                   of_batch=batch_size, rows=distributed.train_rows())
        targets = warped if self.objective.dense else targets
        share = len(x) / batch_size
        with self.autocast:
            loss = self.loss_fn(self.train_forward(x).float(), targets)
        optimizer.zero_grad(set_to_none=True)
        (loss * (share * distributed.world_size())).backward()  # DDP averages over ranks: gradients of the batch mean
        optimizer.step()
        scheduler.step()
        return loss.detach() * share

    @torch.no_grad()
    def evaluate(self, split: PreparedSplit) -> dict[str, Any]:
        """Metrics of the current weights; under torchrun each rank scores a share, all get every logit back."""
        distributed.average_buffers(self.model)
        self.model.eval()
        evaluator = self.objective.evaluator()
        for images, targets, _ in split.eval_batches(self.protocol.eval_batch_size, mine=distributed.eval_rows):
            # this rank's rows (all of them in one process); on a CPU laid out NHWC: oneDNN's NHWC kernels make CPU
            # inference 11–34 % faster (benchmarks/RESULTS.md)
            x, _ = self.transform(images, layout=torch.channels_last if self.device.type == "cpu" else None)
            with self.autocast:
                logits = self.forward(x)
            evaluator.update(distributed.gather_rows(logits.float(), len(targets)), targets)
        return evaluator.compute()

    def fit(self, train: PreparedSplit, val: PreparedSplit, test: PreparedSplit, progress: bool = True,
            checkpoint: Path | None = None, time_inference: bool = True,
            report: Callable[[str], None] | None = None) -> Outcome:
        """Train for the protocol's epochs, keeping the best-on-validation weights; resumes from `checkpoint`
        (and says so through `report`).

        `time_inference=False` leaves out the inference timing a caller that keeps no efficiency figures
        (pretraining) would throw away."""
        p = self.protocol
        steps_per_epoch = len(batch_order(len(train), p.batch_size, torch.Generator().manual_seed(0), drop_last=True))
        optimizer, scheduler = self.make_optimizer(steps_per_epoch)
        state = FitState()
        if checkpoint is not None and checkpoint.is_file():
            state = self._restore(checkpoint, optimizer, scheduler)
            if report is not None:
                report(f"resuming from epoch {state.next_epoch} of {p.epochs} (the checkpoint's last finished epoch)")
        outcome = Outcome(status="ok", history=state.history)
        image_shape = train.image_shape
        with PeakMemory(self.device) as peak, run_bar(state, p.epochs, steps_per_epoch,
                                                       disable=not progress or not distributed.is_main()) as bar:
            start_wall = time.perf_counter()
            for epoch in range(state.next_epoch, p.epochs):
                bar.set_description(_epoch_label(epoch, p.epochs, state.resumed), refresh=False)
                train_loss = self._train_epoch(train, optimizer, scheduler, state, bar)
                if not math.isfinite(train_loss):
                    outcome.status = "diverged"
                    outcome.error = f"training loss became {train_loss} in epoch {epoch}; lower the learning rate"
                    state.history.append({"epoch": epoch, "train_loss": None})
                    break
                val_metrics = self.evaluate(val)
                state.history.append({"epoch": epoch, "train_loss": train_loss, "lr": scheduler.get_last_lr()[0],
                                      "train_images": state.train_images, "train_seconds": state.train_seconds,
                                      **{f"val_{k}": val_metrics.get(k) for k in HISTORY + (self.objective.select_on,)
                                         if k in val_metrics}})
                bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val_metrics.get(self.objective.select_on) or 0:.3f}")
                value = self._selection_value(val_metrics)
                if state.best_state is None or value > state.best_value:
                    state.best_value, state.best_epoch, state.val_metrics = value, epoch, val_metrics
                    state.best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
                state.next_epoch = epoch + 1
                if checkpoint is not None:
                    self._save(checkpoint, optimizer, scheduler, state)
            state.wall_seconds += time.perf_counter() - start_wall
        if outcome.status == "ok":
            outcome.metrics_last_epoch = self.evaluate(test)
            self.model.load_state_dict(state.best_state)
            outcome.metrics = self.evaluate(test)
        outcome.val_metrics = state.val_metrics
        outcome.efficiency = {
            "params": count_params(self.model),
            "flops": flops_per_image(self.model, image_shape),
            "train_images_per_s": state.train_images / state.train_seconds if state.train_seconds > 0 else None,
            "peak_memory_bytes": peak.peak_bytes,
            "peak_memory_kind": peak.kind,
            "wall_time_s": state.wall_seconds,
            "best_epoch": state.best_epoch,
            "resumed": state.resumed,
            "selection": f"best validation {self.objective.select_on} (test metrics of the last epoch are in metrics_last_epoch)",
        }
        outcome.efficiency.update(learning_speed(state.history, self.objective.select_on, outcome.efficiency["flops"]))
        if time_inference and outcome.status == "ok" and distributed.is_main():  # rank 0 alone: ranks would compete for the CPU
            timing = {"warmup": 0, "repeats": 1} if skips("inference-timing") else {}  # the record keeps both counts
            outcome.efficiency.update(measure_inference(self.model, image_shape, self.device,
                                                        batch_size=min(64, p.eval_batch_size), **timing))
        return outcome

    def _train_epoch(self, train: PreparedSplit, optimizer: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler, state: "FitState", bar: tqdm) -> float:
        """One pass over the training split, one tick of the run's bar per step; returns the mean loss (NaN/Inf once
        the loss stops being finite)."""
        self.model.train()
        tic = time.perf_counter()
        loss_sum, seen = torch.zeros((), device=self.device), 0
        orders = batch_order(len(train), self.protocol.batch_size, self.generator, drop_last=True)
        mine = distributed.train_rows()  # under torchrun a rank reads only its rows of each batch
        for step, (images, targets, _) in enumerate(train.batches([order[mine] for order in orders])):
            batch_size = len(orders[step])
            loss_sum += self.train_step(images, targets, optimizer, scheduler, batch_size) * batch_size
            seen += batch_size
            bar.update()
            if (step + 1) % DIVERGENCE_CHECK_EVERY == 0 and not torch.isfinite(distributed.total(loss_sum)):
                break
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        state.train_seconds += time.perf_counter() - tic
        state.train_images += seen
        return (distributed.total(loss_sum) / max(seen, 1)).item()

    def _save(self, path: Path, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
              state: "FitState") -> None:
        """Everything needed to continue bit-for-bit: weights, optimizer, schedule, every RNG, best-so-far."""
        if not distributed.is_main():  # every rank holds the same state; rank 0 writes the one copy
            return
        payload = {"model": self.model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                   "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
                   "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
                   "fit_state": dataclasses.asdict(state), "protocol": self.protocol.to_dict()}
        write_atomic(path, lambda handle: torch.save(payload, handle))

    def _restore(self, path: Path, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LRScheduler) -> "FitState":
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint means: start over, say why
            raise MedbenchError(f"checkpoint {path} is unreadable ({type(exc).__name__}); delete it to start this run over") from None
        if payload.get("protocol") != self.protocol.to_dict():
            raise MedbenchError(f"checkpoint {path} was made under another protocol config; delete it to start over")
        self.model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        self.generator.set_state(payload["generator"])
        torch.set_rng_state(payload["torch_rng"])
        if payload["cuda_rng"]:
            torch.cuda.set_rng_state_all(payload["cuda_rng"])
        return FitState(**{**payload["fit_state"], "resumed": True})


def run_bar(state: "FitState", epochs: int, steps_per_epoch: int, disable: bool) -> tqdm:
    """One bar for the whole fit, counted in training steps so it moves within an epoch and its estimate covers every
    epoch left; a resumed fit's bar starts at the epochs its checkpoint holds."""
    return tqdm(total=epochs * steps_per_epoch, initial=state.next_epoch * steps_per_epoch, leave=False, disable=disable,
                desc=_epoch_label(min(state.next_epoch, epochs - 1), epochs, state.resumed),  # all done: the last one
                bar_format="{l_bar}{bar}| {remaining} left{postfix}")


def _epoch_label(epoch: int, epochs: int, resumed: bool) -> str:
    return f"epoch {epoch + 1} of {epochs}{' (resumed)' if resumed else ''}"


@dataclass
class FitState:
    """Progress of a fit that a checkpoint carries across a restart."""

    next_epoch: int = 0
    best_value: float = -math.inf
    best_epoch: int = -1
    best_state: dict[str, torch.Tensor] | None = None
    val_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    train_images: int = 0
    train_seconds: float = 0.0
    wall_seconds: float = 0.0
    resumed: bool = False

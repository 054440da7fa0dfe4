"""Data-parallel runs under `torchrun`: one process per device, every rank sees the same data, rank 0 speaks.

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; with WORLD_SIZE > 1 `start` joins the job (NCCL on
GPUs, gloo on CPU) and gives each rank `cuda:LOCAL_RANK`. Everything else here is a no-op in a
single process, so the engine and runner call these helpers unconditionally.

Splitting rules, chosen so a run's numbers do not depend on how many processes ran it:
- training: every rank draws the same seeded global batch and takes rows `rank::world` of it;
- evaluation: every rank takes rows `rank::world` of each eval batch (padded to equal length) and
  the logits are gathered back into the original order, so metrics are those of one process;
- BatchNorm: SyncBatchNorm on GPUs (statistics over the global batch, as in one process);
  PyTorch's SyncBatchNorm has no CPU kernel, so gloo runs on CPU normalise per rank and average
  the running statistics across ranks before every evaluation.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import os
import warnings
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from harness.errors import MedbenchError

T = TypeVar("T")
# Ranks wait for rank 0 while it resolves weights, which may mean pretraining a release: hours, not
# the default group's minutes. Object broadcasts go through this gloo group with a patient timeout.
PATIENCE = timedelta(hours=24)
_patient_group: Any = None


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def start(device: torch.device) -> torch.device:
    """Join the torchrun job this process belongs to, if any; returns the device this rank trains on."""
    global _patient_group
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    try:
        cuda = device.type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    except (RuntimeError, ValueError) as exc:
        raise MedbenchError(f"could not join the torchrun job ({exc}); start data-parallel runs with "
                            "`torchrun --nproc_per_node N -m harness run …`") from None
    _patient_group = dist.new_group(backend="gloo", timeout=PATIENCE)
    atexit.register(dist.destroy_process_group)
    return device


def describe(device: torch.device) -> dict[str, Any]:
    """What a record says about how it was parallelised."""
    world = world_size()
    return {"world_size": world, "backend": dist.get_backend() if world > 1 else None,
            "batchnorm": "sync" if world > 1 and device.type == "cuda" else "per-rank" if world > 1 else "single"}


def barrier() -> None:
    if world_size() > 1:
        dist.barrier(group=_patient_group)


def from_main(value: T) -> T:
    """Rank 0's `value` on every rank (any picklable object), so all ranks take the same decisions."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, group=_patient_group)
    return box[0]


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (downloads, pretraining, data generation), then the others find its results."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def prepare(model: nn.Module, device: torch.device) -> nn.Module:
    """SyncBatchNorm when several GPU ranks train together (timm's converter also handles its BatchNormAct)."""
    if world_size() > 1 and device.type == "cuda":
        from timm.layers import convert_sync_batchnorm

        return convert_sync_batchnorm(model)
    return model


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """DDP around an already placed model. Buffers are not broadcast at each step (see `average_buffers`);
    a static graph lets backbones with unused parameters (segmentation encoders) train without a scan per step."""
    # A 1-channel stem's weight gradient comes back with strides (49, 1, 7, 1), its bucket view has (49, 49, 7, 1):
    # the same memory layout for a size-1 dim, yet DDP warns on every run
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    ddp = nn.parallel.DistributedDataParallel
    # torch ≥ 2.15 renamed the switch; both keep buffers rank-local between evaluations
    renamed = "forward_sync_buffers" in inspect.signature(ddp).parameters
    no_buffer_sync = "forward_sync_buffers" if renamed else "broadcast_buffers"
    return ddp(model, device_ids=[device.index] if device.type == "cuda" else None, static_graph=True,
               gradient_as_bucket_view=True, **{no_buffer_sync: False})


def train_rows() -> slice:
    """This rank's rows of a global training batch (every rank gets at least one: see `check_batch`)."""
    return slice(rank(), None, world_size())


def check_batch(batch_size: int) -> None:
    if batch_size < world_size():
        raise MedbenchError(f"batch size {batch_size} cannot be split over {world_size()} processes; "
                            "use fewer processes or a protocol with larger batches")


def eval_rows(n: int) -> slice | torch.Tensor:
    """This rank's rows of an eval batch of `n` (all of them in a single process)."""
    return slice(None) if world_size() == 1 else padded_rows(n, rank(), world_size())


def padded_rows(n: int, rank_index: int, world: int) -> torch.Tensor:
    """Rows `rank::world` of a batch of `n`, padded by repeating the last row so every rank has the same count."""
    per_rank = -(-n // world)
    return (rank_index + world * torch.arange(per_rank)).clamp_(max=n - 1)


def interleave(parts: list[torch.Tensor], n: int) -> torch.Tensor:
    """Undo `padded_rows`: rank r's j-th row is row r + world*j of the batch; padding rows land past `n`."""
    stacked = torch.stack(parts, dim=1)  # (per_rank, world, ...)
    return stacked.flatten(0, 1)[:n]


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """Every rank's `eval_rows` outputs, back in the batch's order, on every rank."""
    world = world_size()
    if world == 1:
        return local
    parts = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(parts, local.contiguous())
    return interleave(parts, n)


def total(value: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (a copy; the input is untouched)."""
    if world_size() == 1:
        return value
    summed = value.clone()
    dist.all_reduce(summed)
    return summed


def average_buffers(model: nn.Module) -> None:
    """Mean of the floating buffers (BatchNorm running statistics) over ranks: every rank evaluates the same model."""
    world = world_size()
    if world == 1:
        return
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer.div_(world)

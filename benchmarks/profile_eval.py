"""Where the harness's evaluation spends its time, part by part, with a torch.profiler table.

Run from the repository root: `PYTHONPATH=. python benchmarks/profile_eval.py` (CUDA when present).
"""
import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.conftest import SETTING as s, synchronize
from benchmarks.test_train_step import _harness_run, _protocol
from harness.data.arrays import ArrayDataset
from harness.data.batches import TensorSplit
from harness.data.prepare import prepare_split

rng = np.random.default_rng(0)
n = s.eval_images
store = prepare_split(ArrayDataset(rng.integers(0, 256, (n, s.image_size, s.image_size, s.channels), dtype=np.uint8),
                                   np.arange(n) % s.classes), s.image_size, "multiclass", s.device)
run = _harness_run(s)
batch = _protocol(s).eval_batch_size


def timed(name, fn, reps=10):
    fn(); synchronize(s.device)
    times = []
    for _ in range(reps):
        tic = time.perf_counter(); fn(); synchronize(s.device); times.append(time.perf_counter() - tic)
    times.sort()
    print(f"{name}: {times[len(times) // 2] * 1e3:.2f} ms")


def transform_only():
    for i in range(0, n, batch):
        run.transform(store.images[i:i + batch])


xs = [run.transform(store.images[i:i + batch])[0] for i in range(0, n, batch)]


@torch.no_grad()
def forward_only():
    with run.autocast:
        for x in xs:
            run.forward(x)


with torch.no_grad(), run.autocast:
    logits = [run.forward(x).float() for x in xs]


def metrics_only():
    ev = run.objective.evaluator()
    for i, l in enumerate(logits):
        ev.update(l, store.targets[i * batch:(i + 1) * batch])
    ev.compute()


run.model.eval()
timed("transform only (4 batches)", transform_only)
timed("forward only, channels_last input", torch.no_grad()(forward_only))
timed("evaluator update+compute", metrics_only)
timed("run.evaluate", lambda: run.evaluate(TensorSplit(store.images, store.targets)))
activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if s.device.type == "cuda" else [])
with profile(activities=activities) as prof:
    run.evaluate(TensorSplit(store.images, store.targets)); synchronize(s.device)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
if s.device.type == "cuda":
    print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=12))

"""Where the harness's evaluation spends its time, part by part, with a torch.profiler table.

Run from the repository root: `PYTHONPATH=. python benchmarks/profile_eval.py` (CUDA when present).
The forward pass is timed on both input layouts: on a CPU the layout, not the harness, decided
eval_ratio (issue #18: a bare loop that happened to get channels_last input ran 20–25 % faster).
"""
import statistics
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


def transform_only():
    for i in range(0, n, batch):
        run.transform(store.images[i:i + batch])


xs = [run.transform(store.images[i:i + batch])[0] for i in range(0, n, batch)]
layouts = {"contiguous": [x.contiguous() for x in xs],
           "channels_last": [torch.empty_like(x, memory_format=torch.channels_last).copy_(x) for x in xs]}


def forward_only(inputs):
    @torch.no_grad()
    def forward():
        with run.autocast:
            for x in inputs:
                run.forward(x)
    return forward


with torch.no_grad(), run.autocast:
    logits = [run.forward(x).float() for x in xs]


def metrics_only():
    ev = run.objective.evaluator()
    for i, l in enumerate(logits):
        ev.update(l, store.targets[i * batch:(i + 1) * batch])
    ev.compute()


parts = {"transform only": transform_only,
         **{f"forward only, {name} input": forward_only(inputs) for name, inputs in layouts.items()},
         "evaluator update+compute": metrics_only,
         "run.evaluate": lambda: run.evaluate(TensorSplit(store.images, store.targets))}
run.model.eval()
times = {name: [] for name in parts}
for fn in parts.values():
    fn(); synchronize(s.device)
for _ in range(7):  # interleaved, so a shared machine's drift hits every part alike
    for name, fn in parts.items():
        tic = time.perf_counter(); fn(); synchronize(s.device); times[name].append(time.perf_counter() - tic)
for name, seconds in times.items():
    print(f"{name}: median {statistics.median(seconds) * 1e3:.2f} ms (min {min(seconds) * 1e3:.2f})")
activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if s.device.type == "cuda" else [])
with profile(activities=activities) as prof:
    run.evaluate(TensorSplit(store.images, store.targets)); synchronize(s.device)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
if s.device.type == "cuda":
    print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=12))

"""Data at any size: each step of the pipeline on MedMNIST-format files of 10k and 100k random 224×224 RGB
images (1.5 GB and 15 GB of pixels), inside a cgroup memory limit, with peak RSS and wall time.

    sudo .venv/bin/python benchmarks/scale_data.py --sizes 10000,100000 --memory-limit 4G --work /var/tmp/scale

(run as root from the repository root; the work folder needs about 2.3× the pixels per size: the file, its
pixel store and the CPMID build; `--keep` keeps them). Steps, each a separate process:

1. `medbench data audit` of the file (the first read also streams it into the pixel store);
2. `medbench run --protocol smoke` (96 training images at 32 px);
3. a one-epoch fine-tune over 10,000 of the training images at 224 px (protocol `quick` with one epoch and
   10,000 / 1,000 image caps, the `mobilenetv3_small_050` backbone so the data path, not the model, is what
   the step stresses);
4. `medbench cpmid build` of a recipe whose only source is the file (every split).

The memory limit is the cgroup v1 memory controller: the benchmark makes
/sys/fs/cgroup/memory/medbench-scale, writes the limit to memory.limit_in_bytes (and to
memory.memsw.limit_in_bytes when swap accounting exists), and each step's process writes its own pid to
cgroup.procs before exec. A step killed by the limit shows as failed. Peak RSS is the step's ru_maxrss
(anonymous and file-mapped pages the process touched; page cache is not counted); the cgroup's own peak
(memory.max_usage_in_bytes, which counts page cache too) is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import yaml

CGROUP_ROOT = Path("/sys/fs/cgroup/memory")
DEFAULT_CGROUP = "medbench-scale"
CGROUP = CGROUP_ROOT / DEFAULT_CGROUP  # --cgroup names another (two benchmarks at once need two)
SIDE = 224
SPLIT_SHARES = {"train": 0.8, "val": 0.1, "test": 0.1}
CLASSES = 4
FINETUNE_IMAGES = 10_000
FINETUNE_BACKBONE = "mobilenetv3_small_050"


def write_medmnist_file(path: Path, n: int, seed: int = 0) -> None:
    """A MedMNIST-layout .npz of n random RGB images, written member by member in chunks (deflated, as
    MedMNIST's own files are), so making a 15 GB file never holds it in memory."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = {split: int(n * share) for split, share in SPLIT_SHARES.items()}
    counts["train"] += n - sum(counts.values())
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as archive:
        for split, count in counts.items():
            with archive.open(f"{split}_images.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array_header_1_0(handle, {"descr": "|u1", "fortran_order": False,
                                                              "shape": (count, SIDE, SIDE, 3)})
                for start in range(0, count, 1000):
                    handle.write(rng.integers(0, 256, (min(1000, count - start), SIDE, SIDE, 3), dtype=np.uint8).data)
            labels = rng.integers(0, CLASSES, (count, 1)).astype(np.uint8)
            with archive.open(f"{split}_labels.npy", "w") as handle:
                np.lib.format.write_array(handle, labels, allow_pickle=False)


def task_card(name: str, file: str, n: int) -> dict:
    counts = {split: int(n * share) for split, share in SPLIT_SHARES.items()}
    counts["train"] += n - sum(counts.values())
    return {"name": name, "kind": "multiclass", "modality": "noise", "description": f"{n} random 224 px RGB images",
            "source": {"loader": "medmnist", "args": {"file": file}}, "label_names": [f"c{i}" for i in range(CLASSES)],
            "channels": 3, "image_size": SIDE, "splits": counts, "metrics": ["accuracy", "auroc"],
            "license": "generated", "citation": "medbench benchmarks/scale_data.py", "audit_policy": "warn"}


def recipe(name: str, file: str) -> dict:
    return {"name": name, "version": "1", "description": "the scale benchmark's file as the only source",
            "image_size": SIDE, "channels": 3, "seed": 0, "val_fraction": 0.05, "modality_labels": False,
            "exclude_tasks": [], "sources": [{"name": "noise", "loader": "medmnist", "args": {"file": file},
                                               "kind": "multiclass", "splits": ["train", "val", "test"],
                                               "label_names": [f"c{i}" for i in range(CLASSES)],
                                               "modality": "noise", "license": "generated",
                                               "citation": "medbench benchmarks/scale_data.py"}]}


FINETUNE = """
import dataclasses, sys
from pathlib import Path
from harness.engine import pick_device
from harness.protocols import PROTOCOLS
from harness.runner import run_grid
from harness.tasks import get_task
protocol = dataclasses.replace(PROTOCOLS.get("quick"), name="scale-one-epoch", epochs=1, warmup_epochs=0.0,
                               image_size=224, train_limit={images}, eval_limit=1000, seeds=(0,))
run_grid([get_task(sys.argv[1])], ["scratch"], ["{backbone}"], protocol, (0,), Path(sys.argv[2]), Path(sys.argv[3]),
         pick_device("cpu"), progress=False)
"""


def limit_memory(limit: str) -> None:
    if os.geteuid() != 0:
        sys.exit("the memory limit needs root (cgroup v1 memory controller); run with sudo or pass --memory-limit none")
    if not CGROUP.parent.is_dir():
        sys.exit(f"{CGROUP.parent} does not exist: this machine has no cgroup v1 memory controller")
    CGROUP.mkdir(exist_ok=True)
    (CGROUP / "memory.limit_in_bytes").write_text(limit)
    if (CGROUP / "memory.memsw.limit_in_bytes").exists():
        (CGROUP / "memory.memsw.limit_in_bytes").write_text(limit)


def run_step(label: str, argv: list[str], env: dict[str, str], limited: bool, log: Path) -> dict:
    """One step in its own process (in the cgroup when `limited`): wall time, peak RSS, exit status."""
    if limited:
        (CGROUP / "memory.max_usage_in_bytes").write_text("0")
        argv = ["sh", "-c", f'echo $$ > {CGROUP / "cgroup.procs"} && exec "$@"', "step", *argv]
    tic = time.perf_counter()
    with open(log, "ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - tic
    code = os.waitstatus_to_exitcode(status)
    cgroup_peak = int((CGROUP / "memory.max_usage_in_bytes").read_text()) if limited else None
    return {"step": label, "ok": code == 0, "exit": code, "wall_s": round(wall, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "cgroup_peak_mib": None if cgroup_peak is None else round(cgroup_peak / 2**20, 1)}


def measure(n: int, work: Path, limited: bool, python: str, medbench: str) -> list[dict]:
    folder = work / str(n)
    data, cards, home, out = folder / "data", folder / "cards", folder / "home", folder / "out"
    for path in (cards, home, out):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    name, file = f"scale-{n}", f"scale-{n}.npz"
    if not (data / file).is_file():
        tic = time.perf_counter()
        write_medmnist_file(data / file, n)
        print(f"[{n}] wrote {data / file} ({(data / file).stat().st_size / 2**30:.1f} GiB) in {time.perf_counter() - tic:.0f} s",
              flush=True)
    (cards / f"{name}.yaml").write_text(yaml.safe_dump(task_card(name, file, n)))
    (folder / f"{name}-cpmid.yaml").write_text(yaml.safe_dump(recipe(f"{name}-cpmid", file)))
    env = {**os.environ, "MEDBENCH_HOME": str(home), "MEDBENCH_TASK_DIRS": str(cards), "PYTHONUNBUFFERED": "1"}
    env.pop("MEDBENCH_SKIP", None)
    env.pop("MEDBENCH_DATA_PATH", None)
    log = folder / "steps.log"
    steps = [
        ("audit", [medbench, "data", "audit", name, "--data-dir", str(data)]),
        ("smoke run", [medbench, "run", "--tasks", name, "--init", "scratch", "--backbone", "resnet18",
                       "--protocol", "smoke", "--seeds", "0", "--out", str(out / "smoke"), "--data-dir", str(data),
                       "--device", "cpu", "--quiet"]),
        ("fine-tune 1 epoch, 10k images", [python, "-c", FINETUNE.format(images=FINETUNE_IMAGES, backbone=FINETUNE_BACKBONE),
                                           name, str(out / "finetune"), str(data)]),
        ("cpmid build", [medbench, "cpmid", "build", "--recipe", str(folder / f"{name}-cpmid.yaml"), "--out",
                         str(out / "cpmid"), "--data-dir", str(data)]),
    ]
    results = []
    for label, argv in steps:
        result = {"size": n, **run_step(label, argv, env, limited, log)}
        if label == "smoke run":
            result.update(_outside_training(out / "smoke", result["wall_s"]))
        results.append(result)
        print(json.dumps(result), flush=True)
    return results


def _outside_training(out: Path, wall: float) -> dict:
    """Seconds of the smoke run spent outside its training loop (loading, preparing, writing): the process's
    wall time less the record's fit time."""
    records = sorted(out.rglob("*.json"))
    try:
        record = json.loads(records[0].read_text())
        fit = float(record["efficiency"]["wall_time_s"])
        return {"outside_training_s": round(wall - fit, 1), "data_path": record["provenance"].get("data_path")}
    except (IndexError, KeyError, ValueError, TypeError, OSError):
        return {"outside_training_s": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--memory-limit", default="4G", help="cgroup v1 limit, e.g. 4G; 'none' for no limit")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/medbench-scale"))
    parser.add_argument("--keep", action="store_true", help="keep the generated files, stores and builds")
    parser.add_argument("--cgroup", default=DEFAULT_CGROUP, help="name of the cgroup made under /sys/fs/cgroup/memory")
    args = parser.parse_args()
    global CGROUP
    CGROUP = CGROUP_ROOT / args.cgroup
    limited = args.memory_limit != "none"
    if limited:
        limit_memory(args.memory_limit)
    bin_dir = Path(sys.executable).parent
    python, medbench = sys.executable, str(bin_dir / "medbench")
    results = []
    for n in (int(s) for s in args.sizes.split(",")):
        results += measure(n, args.work, limited, python, medbench)
        if not args.keep:
            shutil.rmtree(args.work / str(n), ignore_errors=True)
    _summary(results, args.memory_limit)


def _summary(results: list[dict], limit: str) -> None:
    print(f"\nmemory limit {limit}; peak RSS MiB / wall s per step and size")
    sizes = sorted({r["size"] for r in results})
    for step in dict.fromkeys(r["step"] for r in results):
        row = {r["size"]: r for r in results if r["step"] == step}
        cells = [f"{n}: {'ok' if row[n]['ok'] else 'FAILED'} {row[n]['peak_rss_mib']} MiB {row[n]['wall_s']} s"
                 for n in sizes if n in row]
        ratio = ""
        if len(sizes) > 1 and all(n in row for n in sizes):
            ratio = f"  RSS ratio {row[sizes[-1]]['peak_rss_mib'] / row[sizes[0]]['peak_rss_mib']:.2f}"
        print(f"  {step}: " + " | ".join(cells) + ratio)
    smoke = [r for r in results if r["step"] == "smoke run"]
    if smoke:
        print("  smoke run time outside training: " + ", ".join(f"{r['size']}: {r.get('outside_training_s')} s" for r in smoke))


if __name__ == "__main__":
    main()

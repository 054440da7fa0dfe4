"""The run specification's options, shared by `medbench run`, `sweep` and `submit run` under one spelling.

`PLACE_OPTIONS` (protocol, out, data dir, device) are on all three; `GRID_OPTIONS` (what to run: inits,
backbones, tasks, seeds, stem, regime, speed) on `run` and `sweep`, whose values become one
`harness.sweeps.grid.Grid` through `grid_from_options` — the spec a sweep writes to sweep.json and
`run` runs. Old spellings (`--inits`, `--backbones` of `sweep`) still work and say they are deprecated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from harness.commands import parse_seeds, split_list
from harness.data.placement import CHOICES, choose_data_path

DEFAULT_PROTOCOL = "quick"
DEFAULT_INIT, DEFAULT_BACKBONE = "scratch", "resnet18"
DEPRECATED = {"--inits": "--init", "--backbones": "--backbone"}  # old spelling → the one to use


def _deprecated(old: str, new: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def note(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value:
            click.echo(f"note: {old} is deprecated; use {new} (same meaning)", err=True)
        return value

    return note


def _alias(old: str) -> Callable[[Any], Any]:
    new = DEPRECATED[old]
    return click.option(old, f"{new.lstrip('-')}_deprecated", multiple=True, hidden=True,
                        callback=_deprecated(old, new))


DATA_PATH_OPTION = click.option(
    "--data-path", type=click.Choice(CHOICES), default=None, expose_value=False, callback=choose_data_path,
    help="Where pixels live while running: memory, the on-disk pixel store, or auto (memory when they take at most "
         "a quarter of the memory left; default, also set by MEDBENCH_DATA_PATH); recorded.")

PLACE_OPTIONS = [
    click.option("--protocol", "protocol_name", default=None,
                 help=f"smoke | quick | paper | medmnist-v2 (default: {DEFAULT_PROTOCOL}; submit run: the suite's)."),
    click.option("--out", type=click.Path(path_type=Path), default=Path("results"), show_default=True),
    click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Where real data files are looked up."),
    DATA_PATH_OPTION,
    click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N"),
]

GRID_OPTIONS = [
    click.option("--init", "init", multiple=True,
                 help=f"Init source(s): scratch, imagenet, cpmid, file:PATH, hf:ORG/REPO[@REV]; repeat or "
                      f"comma-separate (default: {DEFAULT_INIT})."),
    _alias("--inits"),
    click.option("--backbone", "backbone", multiple=True,
                 help=f"Any timm model name; repeat or comma-separate (default: {DEFAULT_BACKBONE})."),
    _alias("--backbones"),
    click.option("--tasks", "task_names", default=None, help="Comma-separated task names (default: the embedded suite)."),
    click.option("--seeds", default=None, help="Comma-separated seeds (default: the protocol's)."),
    click.option("--stem", type=click.Choice(["default", "small"]), default=None,
                 help="small: MedMNIST's 3×3 stride-1 ResNet stem without max-pool (28–64 px inputs); recorded."),
    click.option("--mode", default="finetune", show_default=True,
                 help="finetune (end to end) | linear-probe (a head on frozen features) | knn (frozen features, cosine)."),
    click.option("--label-budget", default="full", show_default=True,
                 help="Labels per class in a seeded class-balanced training subset (e.g. 1, 8, 64, 256), or full; "
                      "segmentation: training images."),
    click.option("--image-size", type=int, default=None,
                 help="Input size in px (e.g. 28, 64, 128, 224), overriding the protocol's; MedMNIST+ files of that "
                      "size are used when present."),
    click.option("--knn-k", type=int, default=None, help="Neighbours for --mode knn (default 11, as MedMNIST+); recorded."),
    click.option("--fast", is_flag=True,
                 help="Non-deterministic cuDNN autotuning and TF32 (GPU speed; a seed no longer repeats bit for bit); "
                      "recorded."),
    click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model (pays on long GPU runs); recorded."),
]


def with_options(options: list[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """Add `options` to a click command, in the order listed (as `--help` shows them)."""
    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def grid_from_options(options: dict[str, Any]) -> Any:
    """The run specification (`Grid`) the options describe; names, seeds and the regime are checked here, before
    torch is imported, so a typo is answered at once."""
    from harness.protocols import PROTOCOLS
    from harness.regimes import KNN_K, Regime, parse_label_budget
    from harness.sweeps.grid import Grid
    from harness.tasks import get_task, tasks_tagged

    protocol = options["protocol_name"] or DEFAULT_PROTOCOL
    seeds = parse_seeds(options["seeds"]) if options["seeds"] else PROTOCOLS.get(protocol).seeds
    names = options["task_names"]
    tasks = tuple(get_task(n).name for n in split_list(names)) if names else tuple(t.name for t in tasks_tagged("embedded"))
    knn_k = options["knn_k"]
    regime = Regime(options["mode"], parse_label_budget(options["label_budget"]), options["image_size"],
                    KNN_K if knn_k is None else knn_k)
    inits = split_list(options["init"] + options["init_deprecated"]) or [DEFAULT_INIT]
    backbones = split_list(options["backbone"] + options["backbone_deprecated"]) or [DEFAULT_BACKBONE]
    data_dir = options["data_dir"]
    return Grid(tuple(inits), tuple(backbones), tasks, protocol, tuple(seeds), options["stem"],
                str(data_dir.resolve()) if data_dir else None, options["device"], regime.mode, regime.label_budget,
                regime.image_size, regime.knn_k, options["fast"], options["compile_model"])

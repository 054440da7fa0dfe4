"""The `medbench` command: parses arguments, calls the API, prints. No benchmark logic lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from tabulate import tabulate

from harness.commands import exit_if_runs_not_ok, resumes_on_rerun, user_errors
from harness.commands.runspec import DATA_PATH_OPTION, GRID_OPTIONS, PLACE_OPTIONS, grid_from_options, with_options
from harness.errors import MedbenchError
from harness.metric_catalogue import RESULTS_TABLE


@click.group()
@click.version_option(package_name="medbench")
def main() -> None:
    """Benchmark initialization sources (scratch, ImageNet, CPMID, your weights) for medical-imaging backbones."""


@main.command()
@with_options(GRID_OPTIONS + PLACE_OPTIONS)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
@resumes_on_rerun
def run(out: Path, quiet: bool, **options: Any) -> None:
    """Evaluate each backbone from each init source on each task (fine-tune, probe or kNN), one JSON record per seed."""
    from harness.protocols import PROTOCOLS
    from harness.skips import skipped_work
    from harness.tasks import get_task

    grid = grid_from_options(options)
    skipped_work()  # a mistyped $MEDBENCH_SKIP is answered before any training

    from harness.engine import SpeedOptions, pick_device
    from harness.runner import run_grid

    protocol = PROTOCOLS.get(grid.protocol).with_overrides(stem=grid.stem)
    written = run_grid([get_task(name) for name in grid.tasks], list(grid.inits), list(grid.backbones), protocol,
                       grid.seeds, out, Path(grid.data_dir) if grid.data_dir else None, pick_device(grid.device),
                       report=click.echo, progress=not quiet, speed=SpeedOptions(fast=grid.fast, compile=grid.compile),
                       regime=grid.regime())
    exit_if_runs_not_ok(written)


@main.group()
def tasks() -> None:
    """The task registry."""


@tasks.command("list")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where data files are looked up (then $MEDBENCH_HOME/data).")
@user_errors
def tasks_list(data_dir: Path | None) -> None:
    """Every task, whether its data is present / downloadable / missing / generated, and where."""
    from harness.data import data_status
    from harness.tasks import tasks as registry

    rows = [(s.name, s.kind, s.modality, s.num_classes, s.channels, s.image_size,
             "/".join(str(s.splits[k]) for k in ("train", "val", "test")), *data_status(s, data_dir))
            for s in (registry().get(n) for n in registry().names())]
    click.echo(tabulate(rows, headers=["task", "kind", "modality", "classes", "ch", "px", "train/val/test", "data",
                                       "where"]))


@tasks.command("show")
@click.argument("name")
@user_errors
def tasks_show(name: str) -> None:
    """The card, and the latest cached audit of its data (computing one is `medbench data audit`)."""
    import yaml

    from harness.audit import latest_audit
    from harness.audit.report import summary
    from harness.tasks import get_task

    spec = get_task(name)
    click.echo(yaml.safe_dump(spec.to_dict(), sort_keys=False, allow_unicode=True).rstrip())
    audit = latest_audit(spec.name)
    if audit is None:
        click.echo(f"audit: not computed yet; run `medbench data audit {spec.name}` (cached afterwards)")
    else:
        click.echo("audit (latest cached):\n" + "\n".join(f"  {line}" for line in summary(audit)))


@main.group()
def inits() -> None:
    """Initialization sources."""


@inits.command("list")
@user_errors
def inits_list() -> None:
    """Every registered init source (scratch, imagenet, cpmid, file:, hf:, submissions) and what it loads."""
    from harness.inits import describe_inits

    click.echo(tabulate(describe_inits(), headers=["init", "what it loads"]))


@inits.command("check")
@click.argument("init")
@click.option("--backbone", default="resnet18", show_default=True)
@user_errors
def inits_check(init: str, backbone: str) -> None:
    """Resolve INIT for BACKBONE and load it into the model, without training; exit 2 if it cannot be used."""
    import json

    from harness.inits import resolve_init
    from harness.models import build_classifier, load_backbone_weights

    weights = resolve_init(init, backbone)
    if weights.state_dict is not None:
        report = load_backbone_weights(build_classifier(backbone, 2, 3, 224), weights.state_dict, backbone=backbone)
        click.echo(f"loads into {backbone}: {len(report.matched)} of {report.backbone_tensors} backbone tensors matched, "
                   f"{len(report.unexpected)} unexpected tensor(s) ignored")
    click.echo(json.dumps({"sha256": weights.sha256, "provenance": weights.provenance}, indent=2, default=str))


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--metric", "metrics", multiple=True, default=RESULTS_TABLE, show_default=True)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None, help="Also write the summary as CSV.")
@user_errors
def results(folder: Path, metrics: tuple[str, ...], csv_path: Path | None) -> None:
    """Mean ± sd over seeds per (task, init, backbone, protocol)."""
    from harness.results_table import KEYS, format_mean_sd, records_frame, summarize

    table = summarize(records_frame(folder), list(metrics))
    if table.empty:
        raise MedbenchError(f"no result records in {folder}")
    shown = table[KEYS + ["seeds"]].copy()
    for metric in metrics:
        if f"{metric}_mean" in table:
            shown[metric] = [format_mean_sd(m, s, n) for m, s, n in
                             zip(table[f"{metric}_mean"], table[f"{metric}_sd"], table[f"{metric}_n"])]
    if table["not_ok"].notna().any():
        shown["not ok"] = table["not_ok"].fillna("")
    click.echo(tabulate(shown, headers="keys", showindex=False))
    if csv_path:
        from harness.csvsafe import write_safe_csv

        write_safe_csv(table, csv_path)
        click.echo(f"wrote {csv_path}")


@main.group()
def cpmid() -> None:
    """Build and inspect CPMID pretraining sets."""


@cpmid.command("build")
@click.option("--recipe", required=True, help="A recipe name under tasks/cpmid/ (cpmid-synth, cpmid-medmnist) or a YAML path.")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Where the sources' files are looked up.")
@DATA_PATH_OPTION
@click.option("--size", type=int, default=None, help="Image size (overrides the recipe's).")
@user_errors
def cpmid_build(recipe: str, out: Path, data_dir: Path | None, size: int | None) -> None:
    """Merge the recipe's sources, deduplicate, drop downstream leakage, write shards + manifest + datasheet."""
    from harness.cpmid import build_cpmid

    click.echo(f"wrote {build_cpmid(recipe, out, data_dir=data_dir, size=size, progress=click.echo)}")


@cpmid.command("info")
@click.argument("folder", type=click.Path(path_type=Path))
@user_errors
def cpmid_info(folder: Path) -> None:
    """Print the datasheet of a built CPMID and verify its shards."""
    from harness.cpmid import cpmid_info as info

    click.echo(info(folder))


@main.command()
@click.option("--recipe", default="cpmid-synth", show_default=True, help="CPMID recipe to pretrain on (built first when absent).")
@click.option("--backbone", required=True, help="Any timm model name.")
@click.option("--protocol", "protocol_name", default="quick", show_default=True,
              help="A pretraining protocol (pretrain-smoke|pretrain-quick|pretrain-paper) or the run protocol it matches.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Release folder (default: $MEDBENCH_HOME/releases/RECIPE/BACKBONE/PROTOCOL, where --init cpmid finds it).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@DATA_PATH_OPTION
@click.option("--device", default="auto", show_default=True)
@click.option("--push", "push_to", default=None, metavar="ORG/REPO", help="Upload the release to the Hugging Face Hub.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
@resumes_on_rerun
def pretrain(recipe: str, backbone: str, protocol_name: str, out: Path | None, data_dir: Path | None, device: str,
             push_to: str | None, quiet: bool) -> None:
    """Supervised pretraining on a CPMID build; writes model.safetensors + config.json + model card."""
    from harness.engine import pick_device
    from harness.pretrain import pretrain as run_pretraining
    from harness.pretrain import push_release
    from harness.protocols import pretraining_protocol

    folder = run_pretraining(recipe, backbone, pretraining_protocol(protocol_name), out=out, data_dir=data_dir,
                             device=pick_device(device), report=click.echo, progress=not quiet)
    if push_to:
        push_release(folder, push_to, report=click.echo)


def _register_command_groups() -> None:
    """Groups defined in harness/commands/ (one module each) join the main command here."""
    import importlib
    import pkgutil

    import harness.commands

    for module_info in pkgutil.iter_modules(harness.commands.__path__):
        module = importlib.import_module(f"harness.commands.{module_info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register_command_groups()

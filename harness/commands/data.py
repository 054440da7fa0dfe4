"""`medbench data`: download a task's published file, re-check checksums, export a folder dataset's split,
audit a dataset for copies."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from tabulate import tabulate

from harness.commands import split_list, user_errors
from harness.commands.runspec import DATA_PATH_OPTION
from harness.errors import MedbenchError

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

DATA_DIR_HELP = "Data folder (default: $MEDBENCH_HOME/data, where loaders also look)."


@click.group()
def data() -> None:
    """Task data: fetch published files (md5-checked), verify them, export splits."""


@data.command("fetch")
@click.argument("names", nargs=-1, required=True)
@click.option("--size", type=click.Choice(["28", "64", "128", "224"]), default=None,
              help="MedMNIST+ size: `fetch breastmnist --size 224` means the task breastmnist_224.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
@click.option("--mirror", default=None, metavar="URL",
              help="Replace the card URL's base (everything before the file name); default $MEDBENCH_MEDMNIST_URL_BASE.")
@click.option("--force", is_flag=True, help="Replace a present file whose md5 differs from the published one.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@user_errors
def fetch(names: tuple[str, ...], size: str | None, data_dir: Path | None, mirror: str | None, force: bool,
          quiet: bool) -> None:
    """Download each task's file into the data folder: temp file, md5 check, atomic rename."""
    from harness.data.download import fetch_task

    for name in split_list(names):
        spec = _sized_task(name, int(size) if size else None)
        path, note = fetch_task(spec, data_dir, mirror=mirror, progress=not quiet, force=force)
        click.echo(f"{spec.name}: {path} ({note})")


@data.command("verify")
@click.argument("names", nargs=-1)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
@user_errors
def verify(names: tuple[str, ...], data_dir: Path | None) -> None:
    """Re-check the md5 of the downloadable files present (or of NAMES, which must be present).

    A file that is valid but not the published one (a subset, a re-save) is reported as differing, with
    its split sizes: usable, but its figures are not comparable with published ones. Exit 2 when a file
    is corrupt or absent.
    """
    from harness.data.download import default_data_dir, verify_task
    from harness.data.medmnist import describe_medmnist_layout
    from harness.tasks import get_task, tasks

    named = [get_task(n) for n in split_list(names)]
    specs = named or [tasks().get(n) for n in tasks().names() if tasks().get(n).url]
    rows, failed = [], []
    for spec in specs:
        found = verify_task(spec, data_dir)
        if found is None:
            if named:
                rows.append((spec.name, "", "absent"))
                failed.append(spec.name)
            continue
        path, check = found
        if check != "ok":
            try:
                check = f"differs from the published file, valid MedMNIST layout ({describe_medmnist_layout(path)})"
            except MedbenchError as exc:
                check = f"corrupt: {exc} ({check})"
                failed.append(spec.name)
        rows.append((spec.name, str(path), check))
    if not rows:
        raise MedbenchError(f"no downloadable task file in {data_dir or default_data_dir()}; "
                            f"get one with `medbench data fetch NAME`")
    click.echo(tabulate(rows, headers=["task", "file", "check"]))
    if any(check.startswith("differs") for _, _, check in rows):
        click.echo("note: a file that differs from the published one gives figures that are not comparable with "
                   "published ones; `medbench data fetch NAME --force` replaces it with the published file")
    if failed:
        raise MedbenchError(f"{len(failed)} of {len(rows)} file(s) failed ({', '.join(failed)}): "
                            f"run `medbench data fetch NAME --force` to download the published file")


@data.command("link")
@click.argument("name")
@click.argument("source", type=click.Path(path_type=Path))
@user_errors
def link(name: str, source: Path) -> None:
    """Use SOURCE (a folder or file you already have, under any name) as task NAME's data, via a symlink in
    $MEDBENCH_HOME/data; SOURCE itself is not touched."""
    from harness.data import data_status
    from harness.data.local_copy import link_local_copy
    from harness.tasks import get_task

    spec = get_task(name)
    made = link_local_copy(spec, source)
    click.echo(f"{spec.name}: {made} -> {source.expanduser().resolve()} ({data_status(spec).state})")


@data.command("splits")
@click.argument("name")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="CSV file (default: print).")
@user_errors
def splits(name: str, data_dir: Path | None, out: Path | None) -> None:
    """The split of a folder dataset as id,group,split: usable as the card's `split: {file: …}`."""
    from harness.atomic import write_text_atomic
    from harness.data import item_splits
    from harness.tasks import get_task

    spec = get_task(name)
    rows = item_splits(spec, data_dir)
    if rows is None:
        raise MedbenchError(f"task {spec.name} is not a folder dataset (loader {spec.source.loader})")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "group", "split"])
    writer.writerows(rows)
    if out is None:
        click.echo(buffer.getvalue(), nl=False)
    else:
        write_text_atomic(out, buffer.getvalue())
        click.echo(f"wrote {out}")


@data.command("audit")
@click.argument("names", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every registered task whose data are present or generated.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help=DATA_DIR_HELP)
@DATA_PATH_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dataset, one per line.")
@click.option("--refresh", is_flag=True, help="Audit again even when an audit of the same pixels is cached.")
@user_errors
def audit(names: tuple[str, ...], every: bool, data_dir: Path | None, as_json: bool, refresh: bool) -> None:
    """Exact and near copies inside and across the splits of NAMES (or --all), cached per data checksum;
    for folder datasets also shortcuts: file properties (channel mode, size, format, JPEG quality) that
    predict the label."""
    from harness.audit import audit_task
    from harness.audit.report import describe
    from harness.audit.shortcuts import describe_shortcuts, task_shortcuts
    from harness.data import data_status
    from harness.tasks import get_task, tasks

    if bool(split_list(names)) == every:
        raise MedbenchError("name the task(s) to audit, or pass --all (not both)")
    specs = [get_task(n) for n in split_list(names)] or [tasks().get(n) for n in tasks().names()]
    absent = [spec.name for spec in specs if every and data_status(spec, data_dir).state in ("missing", "downloadable")]
    audited = [spec for spec in specs if spec.name not in absent]
    if not audited:
        raise MedbenchError(f"no task has its data in {data_dir or 'the default data folder'}; "
                            f"get some with `medbench data fetch NAME` or pass --data-dir")
    for i, spec in enumerate(audited):
        result, cached = audit_task(spec, data_dir, refresh=refresh)
        found = task_shortcuts(spec, data_dir)
        if as_json:
            click.echo(json.dumps({**result.to_dict(), "policy": spec.audit_policy, "cached": cached,
                                   "shortcuts": None if found is None else [s.to_dict() for s in found]}))
        else:
            lines = describe(result, spec.audit_policy, cached)
            lines += [f"  {line}" for line in describe_shortcuts(found)] if found is not None else []
            click.echo(("\n" if i else "") + "\n".join(lines))
    if absent:
        click.echo(f"skipped {len(absent)} task(s) whose data are not present: {', '.join(absent)}", err=True)


def _sized_task(name: str, size: int | None) -> "TaskSpec":
    """NAME at SIZE px under MedMNIST's naming: NAME itself at 28, NAME_SIZE otherwise."""
    from harness.tasks import get_task

    spec = get_task(name if size in (None, 28) else f"{name}_{size}")
    if size is not None and spec.image_size != size:
        raise MedbenchError(f"task {spec.name} is {spec.image_size} px, not {size}; drop --size or pick another task")
    return spec


COMMANDS = [data]

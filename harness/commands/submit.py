"""`medbench submit`: scaffold a manifest, validate it without training, score it with the harness's protocol."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from harness.commands import exit_if_runs_not_ok, resumes_on_rerun, split_list, user_errors
from harness.commands.runspec import PLACE_OPTIONS, with_options
from harness.errors import MedbenchError

SUITE_HELP = "embedded (tasks tagged embedded) or a leaderboard in leaderboards/ (standard)."
LIST_FIELDS = ("authors", "pretraining_data")
PROMPTS = {
    "id": "Submission id (slug, e.g. my-lab-resnet50)", "name": "Display name", "authors": "Authors (comma-separated)",
    "contact": "Contact (email or https URL)", "license": "Licence of the weights (e.g. Apache-2.0)",
    "homepage": "Homepage (https://...)", "description": "One-paragraph description",
    "backbone": "timm backbone name (e.g. resnet50)",
    "weights": "Weights: file:PATH (relative to the manifest), hf:ORG/REPO@REVISION or an https URL",
    "sha256": "sha256 of the weights file", "pretraining_data": "Pretraining datasets (comma-separated)",
    "citation": "Citation",
}


@click.group()
def submit() -> None:
    """Submit pretrained weights: write a manifest, validate it, score it beside ImageNet and CPMID."""


@submit.command("new")
@click.option("--id", "id_", default=None, help="Slug: lower-case letters, digits, single hyphens.")
@click.option("--name", default=None)
@click.option("--authors", multiple=True, help="Repeat or comma-separate.")
@click.option("--contact", default=None, help="Email address or https URL.")
@click.option("--license", "license_", default=None)
@click.option("--homepage", default=None, help="https URL.")
@click.option("--description", default=None)
@click.option("--backbone", default=None, help="timm model name.")
@click.option("--weights", default=None, help="file:PATH (relative to the manifest), hf:ORG/REPO@REVISION or https URL.")
@click.option("--sha256", default=None, help="Computed from the file when --weights is file: and this is left out.")
@click.option("--pretraining-data", "pretraining_data", multiple=True, help="Dataset names; repeat or comma-separate.")
@click.option("--citation", default=None)
@click.option("--out", type=click.Path(path_type=Path), default=Path("manifest.yaml"), show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file at --out.")
@user_errors
def new(id_: str | None, name: str | None, authors: tuple[str, ...], contact: str | None, license_: str | None,
        homepage: str | None, description: str | None, backbone: str | None, weights: str | None, sha256: str | None,
        pretraining_data: tuple[str, ...], citation: str | None, out: Path, force: bool) -> None:
    """Write a manifest from flags; on a terminal, ask for what the flags leave out. It is checked before writing."""
    from harness.checksums import file_digest
    from harness.submissions.manifest import (
        FIELDS,
        parse_manifest,
        parse_weights,
        to_yaml,
    )

    if out.exists() and not force:
        raise MedbenchError(f"{out} exists; pass --force to overwrite it or --out another path")
    given: dict[str, Any] = {
        "id": id_, "name": name, "authors": split_list(authors) or None, "contact": contact, "license": license_,
        "homepage": homepage, "description": description, "backbone": backbone, "weights": weights, "sha256": sha256,
        "pretraining_data": split_list(pretraining_data) or None, "citation": citation,
    }
    interactive = sys.stdin.isatty()
    for field in FIELDS:
        if given[field] is not None:
            continue
        if field == "sha256" and given["weights"] and str(given["weights"]).startswith("file:"):
            path = out.parent / parse_weights(given["weights"]).path
            if not path.is_file():
                raise MedbenchError(f"weights file {path} does not exist; fix --weights (it is relative to --out's folder)")
            given[field] = file_digest(path)
        elif interactive:
            answer = click.prompt(PROMPTS[field])
            given[field] = split_list(answer) if field in LIST_FIELDS else answer
    missing = [f"--{field.replace('_', '-')}" for field in FIELDS if given[field] is None]
    if missing:
        raise MedbenchError(f"missing {', '.join(missing)} (stdin is not a terminal, so nothing was asked)")
    manifest = parse_manifest(given, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_yaml(manifest.fields()), encoding="utf-8")
    click.echo(f"wrote {out}; next: medbench submit validate {out}")


@submit.command("validate")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--suite", default="standard", show_default=True, help=SUITE_HELP)
@click.option("--check-images", "images_dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None, help="Folder of your pretraining images (PNG/JPEG): compared with the suite's val/test images.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="Where the suite's data files are.")
@user_errors
def validate(manifest: Path, suite: str, images_dir: Path | None, data_dir: Path | None) -> None:
    """Schema, registry clashes, checksum, safe load, fit to the backbone, contamination — no training."""
    from harness.submissions.suite import load_suite
    from harness.submissions.validate import validate as run_checks

    run_checks(manifest, load_suite(suite), images_dir=images_dir, data_dir=data_dir, report=click.echo)


@submit.command("run")
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--suite", default="standard", show_default=True, help=SUITE_HELP)
@with_options(PLACE_OPTIONS)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@user_errors
@resumes_on_rerun
def run(manifest: Path, suite: str, protocol_name: str | None, out: Path, data_dir: Path | None, device: str,
        quiet: bool) -> None:
    """Validate, then fine-tune on every task of the suite with the protocol's seeds: one record per seed."""
    from harness.engine import pick_device
    from harness.submissions.score import score
    from harness.submissions.suite import load_suite

    written = score(manifest, load_suite(suite), protocol_name, out, data_dir, pick_device(device), report=click.echo,
                    progress=not quiet)
    click.echo(f"{len(written)} record(s) written under {out}")
    exit_if_runs_not_ok(written)


COMMANDS = [submit]

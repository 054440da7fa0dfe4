"""`medbench submit validate`: every check a submission must pass before it may train, in order, reported.

Cheap checks come first (schema, registry clashes) so a broken manifest fails in a second; the
weights are fetched and loaded only after that, and nothing is trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.submissions.contamination import contaminating
from harness.submissions.images import ImageCheck, check_images
from harness.submissions.manifest import load_manifest
from harness.submissions.registry import REPO_SUBMISSIONS, check_not_duplicate
from harness.submissions.suite import Suite
from harness.submissions.verify import Verified, verify

Report = Callable[[str], None]


@dataclass(frozen=True)
class Validation:
    verified: Verified
    contamination: dict[str, list[str]]  # task → the declared datasets that name its data
    images: ImageCheck | None


def validate(path: Path, suite: Suite, images_dir: Path | None = None, data_dir: Path | None = None,
             registry: Path = REPO_SUBMISSIONS, report: Report = print) -> Validation:
    manifest = load_manifest(path)
    report(f"manifest: well-formed ({manifest.path}; id {manifest.id}, backbone {manifest.backbone})")
    compared = check_not_duplicate(manifest, registry)
    report(f"registry: no id, weights or name clash with {compared} registered submission(s)")
    verified = verify(manifest)
    report(f"weights: {verified.resolved_reference} (sha256 {manifest.sha256} matches; "
           f"{len(verified.weights.state_dict or {})} finite tensors, loaded without running code)")
    if manifest.weights.kind == "hf" and manifest.weights.revision != verified.weights.provenance.get("revision"):
        report(f"  note: revision {manifest.weights.revision!r} resolved to commit "
               f"{verified.weights.provenance.get('revision')}, which the records name; pin it in the manifest")
    fit = verified.report
    report(f"fit: all {fit.backbone_tensors} backbone tensors of {manifest.backbone} match"
           + (f"; head re-initialised for each task ({len(fit.head_reinitialised)} tensors)" if fit.head_reinitialised else ""))
    contamination = {task.name: found for task in suite.tasks
                     if (found := contaminating(manifest.pretraining_data, task))}
    for task, datasets in contamination.items():
        report(f"contamination: {task} results will be flagged (pretraining_data names {', '.join(datasets)})")
    if not contamination:
        report(f"contamination: pretraining_data names none of the {len(suite.tasks)} task(s) in suite {suite.name!r}")
    images = check_images(images_dir, list(suite.tasks), data_dir) if images_dir is not None else None
    if images is not None:
        _report_images(images, report)
    report(f"valid: {manifest.id} can be scored with `medbench submit run {path}`")
    return Validation(verified, contamination, images)


def _report_images(images: ImageCheck, report: Report) -> None:
    reference = sum(images.reference.values())
    report(f"images: {images.checked} pretraining image(s) compared with {reference} val/test image(s) "
           f"of {len(images.reference)} task(s)")
    if images.unreadable:
        report(f"  skipped {len(images.unreadable)} unreadable file(s), first {images.unreadable[0]}")
    for task, count in images.tasks_hit().items():
        report(f"  MATCH: {count} pretraining image(s) copy val/test images of {task}")
    for match in images.matches[:20]:
        report(f"    {match.file} = {match.task} {match.split}[{match.index}] ({match.match}, correlation {match.score:.3f})")
    if not images.matches:
        report("  no copies found")

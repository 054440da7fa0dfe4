"""Build a CPMID folder from a recipe: sources → unified labels → hygiene → split → shards + datasheet.

Memory stays bounded by one source's loader output plus one chunk: kept images go to a staging
file as they are screened and are copied into shuffled shards once the split is known.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.atomic import temp_pattern, write_text_atomic
from harness.copies import DEFAULT_RULE, CopyRule
from harness.cpmid.datasheet import render_datasheet
from harness.cpmid.fingerprints import FINGERPRINT_DIR, save_fingerprints
from harness.cpmid.hygiene import EXACT_HASH, REASONS, LeakageIndex, Screen, Verdict
from harness.cpmid.labels import LabelSpace
from harness.cpmid.manifest import DATASHEET, FORMAT, FORMAT_VERSION, MANIFEST
from harness.cpmid.pixels import LIBRARY, POLICY, conform
from harness.cpmid.recipe import Recipe, load_recipe
from harness.cpmid.shards import SHARD_DIR, Staging, remove_stale, shard_rows, write_split
from harness.cpmid.sources import ResolvedSource, load_candidates, resolve
from harness.data.arrays import SPLITS
from harness.errors import MedbenchError
from harness.provenance import software
from harness.results import write_json_atomic

CHUNK_BYTES = 160 * 2**20  # pixels of candidates resized and screened at once, at most
MAX_CHUNK = 4096
STAGING_IMAGES = ".staging-images.u8"
SPLIT_STREAM = 7  # mixed into the recipe seed for the train/val split, apart from the caps' streams


@dataclass
class SourceTally:
    """What happened to one source's candidates."""

    available: int
    candidates: int
    input_sha256: str
    removed: Counter = field(default_factory=Counter)
    leaked: Counter = field(default_factory=Counter)  # (task, 'exact' | 'near') → images ('near' includes transformed)
    matches: list[dict[str, Any]] = field(default_factory=list)

    def add(self, source: str, verdicts: list[Verdict], origin: np.ndarray) -> None:
        for verdict, (split, index) in zip(verdicts, origin):
            if verdict.reason is not None:
                self.removed[verdict.reason] += 1
            for task in sorted({leak.task for leak in verdict.leaks}):
                exact = any(leak.match == "exact" for leak in verdict.leaks if leak.task == task)
                self.leaked[task, "exact" if exact else "near"] += 1
            self.matches.extend({"source": source, "split": SPLITS[split], "index": int(index), "task": leak.task,
                                 "task_split": leak.split, "task_index": leak.index, "match": leak.match,
                                 "score": leak.score} for leak in verdict.leaks)

    @property
    def kept(self) -> int:
        return self.candidates - sum(self.removed.values())


def build_cpmid(recipe: str | Path, out: Path, data_dir: Path | None = None, size: int | None = None,
                progress: Callable[[str], None] = print) -> Path:
    """Build the set `recipe` (a name under tasks/cpmid/ or a YAML path) into `out`; returns `out`."""
    parsed = load_recipe(recipe)
    size = parsed.image_size if size is None else size
    if size < 8:
        raise MedbenchError(f"--size must be at least 8 px, not {size}")
    out = Path(out)
    _check_out(out)
    resolved = [resolve(s, size, parsed.channels) for s in parsed.sources]
    _check_sources(parsed, resolved)
    labels = LabelSpace.build([(r.source.name, r.spec.label_names, r.modality) for r in resolved],
                              parsed.modality_labels)
    leak_rule = DEFAULT_RULE
    dedup_rule = dedup_rule_of(parsed)
    progress(f"leakage reference: val+test images of {', '.join(parsed.exclude_tasks) or 'no task'}")
    leakage = LeakageIndex.from_tasks(parsed.exclude_tasks, data_dir, size, parsed.channels, leak_rule)
    staging = Staging(out / STAGING_IMAGES, (size, size, parsed.channels))
    try:
        screen = Screen(dedup_rule, leakage, staging)
        tallies, targets, source_ids = _screen_sources(parsed, resolved, labels, screen, data_dir, size, progress)
        order = split_kept(source_ids, len(resolved), parsed.val_fraction, parsed.seed)
        shards = {split: write_split(out, split, idx, staging, targets, source_ids) for split, idx in order.items()}
        fingerprints = save_fingerprints(out, screen.kept)  # a task added later is screened from these, no rebuild
    finally:
        staging.close()
    manifest = _manifest(parsed, size, resolved, labels, leakage, tallies, targets, source_ids, order, shards)
    manifest["fingerprints"] = fingerprints
    remove_stale(out, {rel for split in shards.values() for shard in split for rel in shard["files"].values()})
    write_text_atomic(out / DATASHEET, render_datasheet(manifest))
    write_json_atomic(out / MANIFEST, manifest)
    progress(f"wrote {sum(len(i) for i in order.values())} images to {out} "
             f"(train {len(order['train'])}, val {len(order['val'])})")
    return out


def dedup_rule_of(recipe: Recipe) -> CopyRule:
    """The matcher's rule with the recipe's thresholds: what counts as a copy inside the set."""
    return replace(DEFAULT_RULE, min_correlation=recipe.near_duplicate_min_correlation,
                   min_detail_correlation=recipe.near_duplicate_min_detail_correlation)


def split_kept(source_ids: np.ndarray, n_sources: int, val_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Seeded train/val split stratified by source; each split then shuffled across sources."""
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    train, val = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for k in range(n_sources):
        index = rng.permutation(np.flatnonzero(source_ids == k))
        n_val = int(round(val_fraction * len(index)))
        val.append(index[:n_val])
        train.append(index[n_val:])
    return {"train": rng.permutation(np.concatenate(train)), "val": rng.permutation(np.concatenate(val))}


def chunk_size(shape: tuple[int, int, int]) -> int:
    """Candidates screened at once. Every chunk is matched against the whole leakage reference and
    everything kept before it, so fewer, larger chunks cost less; CHUNK_BYTES bounds their pixels."""
    return int(np.clip(CHUNK_BYTES // int(np.prod(shape)), 1, MAX_CHUNK))


def _check_out(out: Path) -> None:
    """A new or empty folder, a built set (rebuilt in place), or what a killed build left behind."""
    if out.exists() and (not out.is_dir() or not all(_is_build_output(entry) for entry in out.iterdir())):
        raise MedbenchError(f"{out} exists and is not a CPMID folder; pass --out a new or empty folder")


def _is_build_output(entry: Path) -> bool:
    """A build writes only these names, and atomic temp files of them."""
    names = (STAGING_IMAGES, SHARD_DIR, FINGERPRINT_DIR, MANIFEST, DATASHEET)
    return entry.name in names or any(fnmatch(entry.name, temp_pattern(name)) for name in names)


def _check_sources(recipe: Recipe, resolved: list[ResolvedSource]) -> None:
    for r in resolved:
        if r.source.task in recipe.exclude_tasks:
            raise MedbenchError(f"source {r.source.name} uses task {r.source.task}, which exclude_tasks protects; "
                                f"remove one of the two")
        if recipe.modality_labels and not r.modality:
            raise MedbenchError(f"source {r.source.name} has no modality (modality_labels is true); add 'modality'")


def _screen_sources(recipe: Recipe, resolved: list[ResolvedSource], labels: LabelSpace, screen: Screen,
                    data_dir: Path | None, size: int,
                    progress: Callable[[str], None]) -> tuple[list[SourceTally], np.ndarray, np.ndarray]:
    """Screen every source in recipe order; return tallies and the kept images' targets and sources."""
    tallies, targets, source_ids = [], [np.zeros((0, len(labels.names)), np.uint8)], [np.zeros(0, np.int16)]
    step = chunk_size((size, size, recipe.channels))
    for k, r in enumerate(resolved):
        progress(f"[{k + 1}/{len(resolved)}] {r.source.name}: loading")
        cands = load_candidates(r, data_dir, recipe.seed)
        tally = SourceTally(cands.available, len(cands.images), cands.input_sha256)
        for start in range(0, len(cands.images), step):
            chunk = slice(start, start + step)
            verdicts = screen.screen(conform(cands.images[chunk], size, recipe.channels), k)
            tally.add(r.source.name, verdicts, cands.origin[chunk])
            kept = np.array([v.reason is None for v in verdicts], dtype=bool)
            targets.append(labels.rows(k, cands.targets[chunk][kept], r.modality))
            source_ids.append(np.full(int(kept.sum()), k, np.int16))
            done = min(start + step, len(cands.images))
            if len(cands.images) > step:  # a long source says how far it is
                progress(f"[{k + 1}/{len(resolved)}] {r.source.name}: screened {done:,} of {len(cands.images):,} "
                         f"({done - sum(tally.removed.values()):,} kept)")
        removed = ", ".join(f"{reason} {n}" for reason, n in sorted(tally.removed.items())) or "none"
        progress(f"[{k + 1}/{len(resolved)}] {r.source.name}: kept {tally.kept} of {tally.candidates} (removed: {removed})")
        tallies.append(tally)
    return tallies, np.concatenate(targets), np.concatenate(source_ids)


def _manifest(recipe: Recipe, size: int, resolved: list[ResolvedSource], labels: LabelSpace,
              leakage: LeakageIndex, tallies: list[SourceTally], targets: np.ndarray, source_ids: np.ndarray,
              order: dict[str, np.ndarray], shards: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    names = [r.source.name for r in resolved]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": recipe.name,
        "version": recipe.version,
        "description": recipe.description,
        "recipe": recipe.to_dict(),
        "recipe_sha256": recipe.sha256,
        "software": software(),
        "image_size": size,
        "channels": recipe.channels,
        "pixel_policy": POLICY,
        "pixel_library": LIBRARY,
        "label_format": "multi-hot",
        "label_names": list(labels.names),
        "multilabel_sources": [r.source.name for r in resolved if r.spec.kind.multilabel],
        "modality_labels": recipe.modality_labels,
        "sources": [_source_record(k, r, labels, t, targets, source_ids, order) for k, (r, t) in
                    enumerate(zip(resolved, tallies))],
        "splits": {split: {"count": len(idx), "shards": shards[split]} for split, idx in order.items()},
        "counts": {split: _label_counts(labels, targets[idx]) for split, idx in order.items()},
        "modality_counts": _modality_counts(resolved, source_ids, order),
        "removed": {reason: sum(t.removed[reason] for t in tallies) for reason in REASONS},
        "hygiene": {
            "order": "sources in recipe order, each in its seeded order; the first occurrence is kept",
            "priority": list(REASONS),
            "exact_hash": EXACT_HASH,
            "near_duplicate_min_correlation": recipe.near_duplicate_min_correlation,
            "near_duplicate_min_detail_correlation": recipe.near_duplicate_min_detail_correlation,
            "copy_rule": dedup_rule_of(recipe).describe(),
        },
        "leakage": {
            "exclude_tasks": list(recipe.exclude_tasks),
            "copy_rule": DEFAULT_RULE.describe(),
            "reference_images": leakage.counts(),
            "not_screened": leakage.not_screened,
            "per_task": {task: {match: sum(t.leaked[task, match] for t in tallies) for match in ("exact", "near")}
                         for task in recipe.exclude_tasks},
            "per_source": {name: {task: t.leaked[task, "exact"] + t.leaked[task, "near"]
                                  for task in recipe.exclude_tasks} for name, t in zip(names, tallies)},
            "matches": [m for t in tallies for m in t.matches],
        },
        "split_rule": {"val_fraction": recipe.val_fraction, "stratified_by": "source", "seed": recipe.seed},
        "images_per_shard": shard_rows((size, size, recipe.channels)),
    }


def _source_record(k: int, r: ResolvedSource, labels: LabelSpace, tally: SourceTally, targets: np.ndarray,
                   source_ids: np.ndarray, order: dict[str, np.ndarray]) -> dict[str, Any]:
    return {
        **r.describe(),
        "label_offset": labels.offsets[k],
        "input_sha256": tally.input_sha256,
        "available": tally.available,
        "candidates": tally.candidates,
        "kept": tally.kept,
        "removed": {reason: tally.removed[reason] for reason in REASONS},
        "per_split": {split: int((source_ids[idx] == k).sum()) for split, idx in order.items()},
    }


def _label_counts(labels: LabelSpace, targets: np.ndarray) -> dict[str, int]:
    """Positive images per unified label."""
    return {name: int(n) for name, n in zip(labels.names, targets.sum(axis=0, dtype=np.int64))}


def _modality_counts(resolved: list[ResolvedSource], source_ids: np.ndarray,
                     order: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for k, r in enumerate(resolved):
        per_split = counts.setdefault(r.modality or "unspecified", {split: 0 for split in order})
        for split, idx in order.items():
            per_split[split] += int((source_ids[idx] == k).sum())
    return counts

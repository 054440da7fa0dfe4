"""Run-time contamination screening: did the CPMID build behind a run's weights hold the task's val/test images?

A task the recipe listed in `exclude_tasks` was screened when the set was built (its copies were
removed; the manifest counts them). Any other task is screened when the run starts, against the
build's stored fingerprints (harness.cpmid.fingerprints), with the same matcher and rule as the
build's leakage check; copies found there are in the pretraining set, so the run's records are
flagged `contaminated` and the leaderboard shows no number for them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any


from harness.copies import DEFAULT_RULE, Catalogue, Reference, pairs_between
from harness.cpmid.fingerprints import load_fingerprints
from harness.cpmid.manifest import load_manifest
from harness.cpmid.pixels import conformed
from harness.data.arrays import TaskData
from harness.errors import MedbenchError

SPLITS = ("val", "test")


def screening_fields(provenance: dict[str, Any], task: str, data: TaskData) -> dict[str, Any]:
    """Record fields for a run whose init came from a CPMID build (`cpmid_build` in its provenance); {} otherwise."""
    folder = provenance.get("cpmid_build")
    if not isinstance(folder, str):
        return {}
    screening = screen_task(Path(folder), provenance.get("recipe_sha256"), task, data)
    if screening.get("when") != "run start":
        return {"cpmid_screening": screening}
    copies = int(screening["copies"])
    return {"cpmid_screening": screening, "contaminated": copies > 0,
            "contamination": {"datasets": [f"CPMID {screening['build']} ({copies} val/test image{'s' if copies != 1 else ''})"]
                              if copies else [], "copies": copies}}


def screen_task(folder: Path, recipe_sha256: Any, task: str, data: TaskData) -> dict[str, Any]:
    """Whether and when `task`'s val/test images were screened against the build in `folder`, and the copies found."""
    try:
        manifest = load_manifest(folder)
    except MedbenchError as exc:
        return {"screened": False, "why": str(exc)}
    build = f"{manifest['name']} {manifest['version']}"
    base = {"build": build, "build_folder": str(folder), "recipe_sha256": manifest.get("recipe_sha256")}
    if recipe_sha256 and recipe_sha256 != manifest.get("recipe_sha256"):
        return {**base, "screened": False, "why": "the build found there is not the one these weights were pretrained on "
                                                  "(recipe sha256 differs); rebuild it to screen"}
    leakage = manifest.get("leakage") or {}
    if task in (leakage.get("exclude_tasks") or []) and task not in (leakage.get("not_screened") or {}):
        counts = (leakage.get("per_task") or {}).get(task) or {}
        removed = int(sum(counts.values()))
        return {**base, "screened": True, "when": "build", "copies": removed, "copies_in_build": 0,
                "note": f"listed in the recipe's exclude_tasks: {removed} copies found at build time were removed"}
    catalogue = load_fingerprints(folder, manifest)
    if catalogue is None:
        return {**base, "screened": False, "why": "the build keeps no fingerprints (made by an older medbench); rebuild it "
                                                  "to screen tasks it did not list"}
    return {**base, "screened": True, "when": "run start", "copy_rule": DEFAULT_RULE.describe(),
            **_copies(catalogue, manifest, data)}


def _copies(build: Catalogue, manifest: dict[str, Any], data: TaskData) -> dict[str, Any]:
    """Val/test images with a copy among the build's pictures, counted per split and per build source."""
    size, channels = int(manifest["image_size"]), int(manifest["channels"])
    owners = [(split, i) for split in SPLITS for i in range(len(data.split(split)))]
    queries = Catalogue.of(image for split in SPLITS for image in conformed(data.split(split).images, size, channels))
    names = [s["name"] for s in manifest["sources"]]
    found: dict[int, tuple[str, str]] = {}
    for pair in sorted(pairs_between(queries, Reference(build, DEFAULT_RULE), DEFAULT_RULE), key=lambda p: p.kind != "exact"):
        found.setdefault(pair.query, (names[int(build.sources[pair.reference])], pair.kind))
    matches = [{"split": owners[q][0], "index": owners[q][1], "source": source, "match": kind}
               for q, (source, kind) in sorted(found.items())]
    return {"copies": len(found), "images_checked": len(owners),
            "per_split": {split: sum(m["split"] == split for m in matches) for split in SPLITS},
            "per_source": dict(Counter(m["source"] for m in matches)), "matches": matches}

"""DATASHEET.md: the manifest told for people — sources and licences, counts, what was removed, leakage.

Rendered from the manifest alone, so the datasheet of a folder can always be regenerated and never
disagrees with it.
"""

from __future__ import annotations

from typing import Any

from harness.cpmid.licences import use_statement

_REASON_TEXT = {
    "leakage": "same pixels as, or a near copy of, a val/test image of an excluded downstream task",
    "exact_duplicate": "same decoded pixels (after resizing and the channel policy) as an image already kept",
    "near_duplicate": "a near copy of an image already kept",
}


def render_datasheet(manifest: dict[str, Any]) -> str:
    sections = [_header(manifest), _sources(manifest), _counts(manifest), _modalities(manifest),
                _removed(manifest), _leakage(manifest), _reproduce(manifest)]
    return "\n\n".join(sections) + "\n"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _header(m: dict[str, Any]) -> str:
    splits = m["splits"]
    return "\n".join([
        f"# Datasheet: {m['name']} {m['version']}",
        "",
        m["description"],
        "",
        f"- Images: {splits['train']['count']} train, {splits['val']['count']} val "
        f"({m['image_size']}×{m['image_size']} px, {m['channels']} channel{'s' if m['channels'] > 1 else ''}, uint8)",
        f"- Labels: {len(m['label_names'])} in one {m['label_format']} head (`source/class`"
        f"{', plus `modality/<name>`' if m['modality_labels'] else ''}); multilabel sources: "
        f"{', '.join(m['multilabel_sources']) or 'none'}",
        f"- Pixels: {m['pixel_policy']} ({m['pixel_library']})",
        f"- Recipe sha256: `{m['recipe_sha256']}`; code: medbench {m['software']['medbench_version']} "
        f"({m['software']['git_sha'] or 'not a git checkout'})",
    ])


def _sources(m: dict[str, Any]) -> str:
    rows = [[s["name"], s.get("task") or f"{s['loader']} {s['args']}", s["modality"] or "—", s["kind"],
             "/".join(s["splits"]), s["license"] or "unknown", s["kept"]] for s in m["sources"]]
    cites = [f"- **{s['name']}**: {s['citation'] or 'no citation given'}" for s in m["sources"]]
    return "\n".join(["## Sources", "",
                      _table(["source", "from", "modality", "kind", "splits used", "license", "images kept"], rows),
                      "", "Use of the whole set (the strictest source licence applies to the set and to weights "
                      "trained on it):", "", *use_statement(m["sources"]), "", "Citations:", "", *cites])


def _counts(m: dict[str, Any]) -> str:
    splits = list(m["splits"])
    source_rows = [[s["name"], *(s["per_split"][sp] for sp in splits)] for s in m["sources"]]
    label_rows = [[name, *(m["counts"][sp][name] for sp in splits)] for name in m["label_names"]]
    return "\n".join(["## Counts", "", "Per source:", "", _table(["source", *splits], source_rows), "",
                      "Per label (images with that label; multilabel rows can count one image several times):", "",
                      _table(["label", *splits], label_rows)])


def _modalities(m: dict[str, Any]) -> str:
    splits = list(m["splits"])
    rows = [[modality, *(counts[sp] for sp in splits)] for modality, counts in sorted(m["modality_counts"].items())]
    return "\n".join(["## Modalities", "", _table(["modality", *splits], rows)])


def _removed(m: dict[str, Any]) -> str:
    h = m["hygiene"]
    reasons = h["priority"]
    rows = [[s["name"], s["available"], s["candidates"], *(s["removed"][r] for r in reasons), s["kept"]]
            for s in m["sources"]]
    rows.append(["**total**", sum(s["available"] for s in m["sources"]), sum(s["candidates"] for s in m["sources"]),
                 *(m["removed"][r] for r in reasons), sum(s["kept"] for s in m["sources"])])
    rules = [f"- `{r}`: {_REASON_TEXT[r]}" for r in reasons]
    return "\n".join([
        "## What was removed and why", "",
        "`available` counts the images of the splits used; `candidates` what the caps let through. Candidates are "
        f"screened in a fixed order ({h['order']}); the first of these reasons that applies removes an image:", "",
        *rules, "",
        f"Exact: {h['exact_hash']}. Near: the shared copy matcher (resized, squashed, cropped to ≥ 70 % of a side, "
        f"re-encoded, toned, flipped or rotated copies; docs/copies.md): a near duplicate inside the set correlates "
        f"≥ {h['near_duplicate_min_correlation']} after alignment and ≥ {h['near_duplicate_min_detail_correlation']} "
        "in its band-passed detail; the leakage check uses the matcher's calibrated rule.", "",
        _table(["source", "available", "candidates", *reasons, "kept"], rows)])


def _leakage(m: dict[str, Any]) -> str:
    leak = m["leakage"]
    if not leak["exclude_tasks"]:
        return "## Leakage check\n\nNo downstream task was excluded: this set was not checked for overlap."
    rows = [[task, leak["reference_images"].get(task, 0), counts["exact"], counts["near"],
             counts["exact"] + counts["near"]] for task, counts in leak["per_task"].items()]
    per_source = [[source, *(counts[t] for t in leak["exclude_tasks"])] for source, counts in leak["per_source"].items()]
    return "\n".join([
        "## Leakage check", "",
        "Every candidate was compared with the val and test images of each excluded downstream task "
        "(in the same pixel format); matching candidates were dropped. Images removed per downstream task:", "",
        _table(["downstream task", "val+test images checked", "exact copies", "near copies", "removed"], rows), "",
        "Per source:", "", _table(["source", *leak["exclude_tasks"]], per_source), "",
        f"Each match (source image ↔ downstream image) is listed under `leakage.matches` in manifest.json "
        f"({len(leak['matches'])} matches).", *_not_screened(leak)])


def _not_screened(leak: dict[str, Any]) -> list[str]:
    absent = leak.get("not_screened") or {}
    if not absent:
        return []
    return ["", "**Not screened** — their data were absent at build time, so overlap with them was NOT checked "
            "(fetch them and rebuild to check):", "", _table(["downstream task", "expected at"], sorted(absent.items()))]


def _reproduce(m: dict[str, Any]) -> str:
    return "\n".join([
        "## Reproduce and verify", "",
        f"`medbench cpmid build {m['name']} --size {m['image_size']} --out <folder>` with the same data files and "
        "code gives byte-identical shards and manifest.json (inputs are pinned by `input_sha256` per source). "
        "`medbench cpmid info <folder>` re-checks every shard's sha256 against manifest.json."])

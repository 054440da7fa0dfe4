"""manifest.json: what a built CPMID contains and how it was made, read back with a format check.

It holds no timestamps or absolute paths, so two builds of the same recipe, data and code give the
same bytes — the manifest itself is a fingerprint of the set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import MedbenchError

FORMAT = "medbench-cpmid"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATASHEET = "DATASHEET.md"


def load_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise MedbenchError(f"{folder} is not a CPMID folder (no {MANIFEST}); build one with `medbench cpmid build`")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MedbenchError(f"{path} is not readable JSON ({exc}); rebuild the set with `medbench cpmid build`") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise MedbenchError(f"{path}: format {manifest.get('format')!r} v{manifest.get('format_version')!r} is not "
                            f"{FORMAT} v{FORMAT_VERSION}; rebuild the set with this medbench")
    return manifest


def shard_checksums(manifest: dict[str, Any]) -> dict[str, str]:
    """Relative path → sha256 for every shard file of every split."""
    return {rel: sha for split in manifest["splits"].values() for shard in split["shards"]
            for rel, sha in shard["sha256"].items()}

"""`submission:ID_OR_PATH`: a submitted model — its manifest checked, its weights verified, then loaded.

ID names `submissions/<ID>/manifest.yaml`; a path names a manifest file (or its folder). Records
of a submission carry `init: submission:<ID>` and, through the runner, a top-level `submission`
block; `medbench submit run` makes `submission:<ID>` name the manifest it was given (see
`use_manifest`) so an unregistered submission is recorded under its id, not under a file path.
Imports of harness.submissions stay inside functions: that package imports harness.inits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import MedbenchError
from harness.inits.base import INIT_SOURCES, ResolvedWeights, require_argument

_MANIFESTS: dict[str, Path] = {}  # id → manifest, for submissions named in this process by use_manifest


def use_manifest(path: Path) -> str:
    """Let `submission:<id>` name this manifest in this process; return that init string."""
    from harness.submissions.manifest import load_manifest

    manifest = load_manifest(path)
    known = _MANIFESTS.setdefault(manifest.id, manifest.path)
    if known != manifest.path:
        raise MedbenchError(f"two manifests claim submission id {manifest.id!r} ({known} and {manifest.path}); "
                            "score one per process")
    return f"submission:{manifest.id}"


@INIT_SOURCES.register("submission")
class SubmissionSource:
    name = "submission"
    usage = "submission:ID_OR_PATH"
    description = "a submitted model: submissions/ID/manifest.yaml (or a manifest path), verified before loading"

    def __init__(self, arg: str | None = None) -> None:
        self.spec = require_argument(self.name, arg, self.usage)
        self.manifest_path = _locate(self.spec)

    def resolve(self, backbone: str) -> ResolvedWeights:
        from harness.submissions.manifest import load_manifest
        from harness.submissions.verify import verify

        manifest = load_manifest(self.manifest_path)
        if backbone != manifest.backbone:
            raise MedbenchError(f"submission {manifest.id!r} holds weights for {manifest.backbone!r}, not {backbone!r}; "
                                f"use --backbone {manifest.backbone}")
        verified = verify(manifest)
        weights = verified.weights
        submission: dict[str, Any] = {
            "id": manifest.id, "name": manifest.name, "weights_sha256": weights.sha256,
            "manifest_sha256": manifest.manifest_sha256, "resolved_weights": verified.resolved_reference,
            "pretraining_data": list(manifest.pretraining_data),
        }
        provenance = {"source": "submission", "reference": f"submission:{manifest.id}", "submission": submission,
                      "manifest": manifest.fields(), "manifest_path": str(manifest.path), "weights": weights.provenance}
        return ResolvedWeights(weights.state_dict, weights.sha256, provenance, weights.mean, weights.std)


def _locate(spec: str) -> Path:
    from harness.submissions.registry import find_registered

    found = _MANIFESTS.get(spec) or find_registered(spec)
    if found is not None:
        return found
    path = Path(spec).expanduser()
    if path.is_file() or (path / "manifest.yaml").is_file():
        return path
    raise MedbenchError(f"no submission {spec!r}: neither submissions/{spec}/manifest.yaml nor a manifest at {path}; "
                        "give a registered id or a manifest path")

"""Is a manifest's weights file what it claims to be? Checksum, safe load, fit to the backbone — no training.

Bytes are fetched by the existing init machinery (a local file, a Hub repo pinned to a commit, or
an https download) and parsed only by `harness.inits.safe_load`, which tells the format from the
content, never runs pickled code, caps size and tensor count and refuses NaN/Inf. The fit check is
stricter than a run's loader: a submission must be the whole backbone it names, so any wrong
shape, missing or stray tensor is refused, naming the first one, before anything trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from harness.errors import MedbenchError
from harness.inits.base import ResolvedWeights
from harness.inits.hub_repo import HubRepoSource
from harness.inits.local_file import FileSource
from harness.models import LoadReport, build_classifier, check_backbone, load_backbone_weights
from harness.submissions.download import fetch_https
from harness.submissions.manifest import Manifest

FIT_IMAGE_SIZE = 224  # only fixed-size models (ViTs) use it; their position embeddings are resampled to it


@dataclass(frozen=True)
class Verified:
    manifest: Manifest
    weights: ResolvedWeights  # provenance says exactly which bytes were used (e.g. the Hub commit)
    report: LoadReport

    @property
    def resolved_reference(self) -> str:
        return str(self.weights.provenance.get("reference", self.manifest.weights.text))


def verify(manifest: Manifest) -> Verified:
    check_backbone(manifest.backbone)
    weights = FETCHERS[manifest.weights.kind](manifest)
    if weights.sha256 != manifest.sha256:
        raise MedbenchError(f"{manifest.path}: the weights at {weights.provenance.get('reference')} have sha256 "
                            f"{weights.sha256}, but the manifest says {manifest.sha256}; fix one of them")
    assert weights.state_dict is not None  # every fetcher loads a file
    return Verified(manifest, weights, check_fit(manifest.backbone, weights.state_dict))


def check_fit(backbone: str, state_dict: dict[str, torch.Tensor]) -> LoadReport:
    """Load into a freshly built backbone with the run's semantics, then insist every backbone tensor fits."""
    model = build_classifier(backbone, num_classes=2, in_chans=3, image_size=FIT_IMAGE_SIZE)
    report = load_backbone_weights(model, state_dict, backbone=backbone)  # refuses < 90 % matched, naming a key
    order = {key: i for i, key in enumerate(model.state_dict())}
    problems = []
    for entry in report.mis_shaped:  # "key (file shape)→(model shape)"
        key, shapes = entry.split(" ", 1)
        have, want = shapes.split("→")
        problems.append((order.get(key, len(order)), f"tensor {key!r} has shape {have}, but {backbone} needs {want}"))
    problems += [(order[key], f"tensor {key!r} of {backbone} is missing from the weights") for key in report.missing]
    problems += [(len(order), f"tensor {key!r} is not part of {backbone}") for key in report.unexpected]
    if problems:
        first = min(problems, key=lambda p: p[0])[1]
        raise MedbenchError(f"the weights do not fit {backbone}: {first} ({len(problems)} problem(s) in all); "
                            f"submit the complete state_dict of a timm {backbone}")
    return report


def _from_file(manifest: Manifest) -> ResolvedWeights:
    path = manifest.weights_file()
    if not path.exists():
        card = manifest.folder / "README.md"
        how = f"make it as {card} says" if card.is_file() else f"put it beside {manifest.path.name}"
        raise MedbenchError(f"weights file {path} (from {manifest.weights.text!r}) does not exist; {how}")
    return FileSource(str(path)).resolve(manifest.backbone)


def _from_hub(manifest: Manifest) -> ResolvedWeights:
    """The revision (a branch is fine) is resolved to a commit; the provenance's reference records that commit."""
    ref = manifest.weights
    return HubRepoSource(f"{ref.repo_id}@{ref.revision}").resolve(manifest.backbone)


def _from_url(manifest: Manifest) -> ResolvedWeights:
    path = fetch_https(manifest.weights.url, manifest.sha256)
    resolved = FileSource(str(path)).resolve(manifest.backbone)
    provenance = {"source": "url", "reference": manifest.weights.url, "url": manifest.weights.url, "cached_at": str(path)}
    return ResolvedWeights(resolved.state_dict, resolved.sha256, provenance)


FETCHERS: dict[str, Callable[[Manifest], ResolvedWeights]] = {"file": _from_file, "hf": _from_hub, "url": _from_url}

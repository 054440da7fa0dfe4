"""The scored registry: `submissions/<id>/manifest.yaml` (+ an optional model card README.md).

A leaderboard row must mean one set of weights under one name, so a new submission is refused
when its id, its weights' sha256 or its normalised name is already taken — the same weights under
a second name would count twice, and two names that differ only in case or punctuation would
read as one.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import MedbenchError
from harness.submissions.manifest import Manifest, load_manifest
from harness.submissions.text import SLUG, normalised

REPO_SUBMISSIONS = Path(__file__).resolve().parents[2] / "submissions"


def registered(registry: Path = REPO_SUBMISSIONS) -> list[Manifest]:
    """Every manifest in the registry, each checked; a folder must be named after its manifest's id."""
    manifests = []
    for folder in sorted(registry.iterdir()) if registry.is_dir() else ():
        if not (folder / "manifest.yaml").is_file():
            continue
        manifest = load_manifest(folder / "manifest.yaml")
        if manifest.id != folder.name:
            raise MedbenchError(f"{manifest.path}: id {manifest.id!r} differs from its folder name {folder.name!r}; "
                                "rename the folder or the id")
        manifests.append(manifest)
    return manifests


def find_registered(submission_id: str, registry: Path = REPO_SUBMISSIONS) -> Path | None:
    """The registered manifest for an id; None for anything that is not a slug (e.g. a path)."""
    path = registry / submission_id / "manifest.yaml"
    return path if SLUG.fullmatch(submission_id) and path.is_file() else None


def check_not_duplicate(manifest: Manifest, registry: Path = REPO_SUBMISSIONS) -> int:
    """Refuse a manifest that repeats a registered id, weights or name; return how many were compared."""
    if manifest.folder.parent == registry.resolve() and manifest.folder.name != manifest.id:
        raise MedbenchError(f"{manifest.path}: a registered submission lives in submissions/{manifest.id}/, "
                            f"not submissions/{manifest.folder.name}/")
    others = [other for other in registered(registry) if other.path != manifest.path]
    for other in others:
        where = f"submissions/{other.id}/manifest.yaml"
        if other.id == manifest.id:
            raise MedbenchError(f"submission id {manifest.id!r} is already taken by {where}; choose another id")
        if other.sha256 == manifest.sha256:
            raise MedbenchError(f"these weights (sha256 {manifest.sha256[:12]}…) are already submitted as "
                                f"{other.id!r} ({where}); the same weights are scored once")
        if normalised(other.name) == normalised(manifest.name):
            raise MedbenchError(f"name {manifest.name!r} is already used by submission {other.id!r} ({other.name!r}); "
                                "choose a distinct name")
    return len(others)

"""Hugging Face Hub downloads that say which commit was used and fail with one actionable line.

huggingface_hub is imported inside the functions on purpose: it reads HF_HUB_OFFLINE and
HF_HUB_CACHE when first imported, so importing it here at start-up would freeze them before a
caller had the chance to set them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import MedbenchError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # safetensors first; .bin only via safe_load
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HubFile:
    filename: str
    commit: str  # the 40-hex commit the file was taken from
    path: Path


def download(repo_id: str, filename: str, revision: str | None = None) -> HubFile:
    """One file of a model repo, from the cache when offline; errors become MedbenchError."""
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(repo_id, filename, revision=revision))
    except Exception as e:
        raise _explain(e, repo_id, filename, revision) from None
    return HubFile(filename, _commit_of(path), path)


def download_weights(repo_id: str, revision: str | None = None) -> HubFile:
    """model.safetensors, or pytorch_model.bin when the repo (or the cache) has only that."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    missing: list[Exception] = []
    for filename in WEIGHT_FILES:
        # Once the Hub proved unreachable, look only in the cache: retrying costs ~20 s per file.
        cache_only = any(isinstance(e, LocalEntryNotFoundError) for e in missing)
        try:
            path = Path(hf_hub_download(repo_id, filename, revision=revision, local_files_only=cache_only))
        except EntryNotFoundError as e:  # not on the Hub, or not in the cache while offline
            missing.append(e)
            continue
        except Exception as e:
            raise _explain(e, repo_id, filename, revision) from None
        return HubFile(filename, _commit_of(path), path)
    raise _explain(missing[0], repo_id, " or ".join(WEIGHT_FILES), revision)


def cache_folder(repo_id: str) -> Path:
    """Where huggingface_hub keeps (or would keep) this repo, for error messages."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


def _commit_of(path: Path) -> str:
    """Cached files live at .../snapshots/<commit>/<filename>; the folder name is the commit."""
    if path.parent.parent.name == "snapshots" and COMMIT_SHA.fullmatch(path.parent.name):
        return path.parent.name
    raise MedbenchError(f"cannot tell which commit {path} came from (unexpected Hub cache layout); "
                        "clear that cache folder and download again")  # fmt: skip


def _explain(error: Exception, repo_id: str, filename: str, revision: str | None) -> MedbenchError:
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f"{repo_id}@{revision or 'main'}"
    if isinstance(error, LocalEntryNotFoundError):
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the Hub could not be reached"
        return MedbenchError(
            f"{filename} of {at} is not in the Hugging Face cache at {cache_folder(repo_id)} and {why}; "
            "go online once to download it, fill that cache (HF_HUB_CACHE picks its location), "
            "or pass --init file:PATH"
        )
    if isinstance(error, GatedRepoError):
        return MedbenchError(f"Hub repo {repo_id} is gated; accept its terms on huggingface.co, then hf auth login")
    if isinstance(error, RepositoryNotFoundError):
        return MedbenchError(f"Hub repo {repo_id} does not exist or is private; check the name, or hf auth login")
    if isinstance(error, RevisionNotFoundError):
        return MedbenchError(f"Hub repo {repo_id} has no revision {revision!r}; give a branch, tag or 40-hex commit")
    if isinstance(error, RemoteEntryNotFoundError):
        return MedbenchError(f"Hub repo {at} has no {filename}; it is not in timm's Hub layout")
    if isinstance(error, HFValidationError):
        return MedbenchError(f"{repo_id!r} is not a valid Hub repo id; expected ORG/NAME")
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    return MedbenchError(f"could not get {filename} of {at} from the Hub ({first}); "
                         "check the network, or pass --init file:PATH")  # fmt: skip

"""Put a built site where people can read it: a folder (GitHub Pages, any static host) or a
Hugging Face static Space / dataset repo via `HfApi().upload_folder`."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.errors import MedbenchError
from harness.leaderboard.sitefolder import SITE_MARKER, replace_folder

# What a build writes: on the Hub, remote files matching these and absent from the new build are deleted.
SITE_PATTERNS = ["index.html", "efficiency.html", "task/*", "entry/*", "cams/*", "data/*", "static/*"]


def _check_site(site: Path) -> None:
    if not (site / "index.html").is_file() or not (site / SITE_MARKER).is_file():
        raise MedbenchError(f"{site} is not a built leaderboard; run `medbench leaderboard build --out {site}` first")


def publish_to_dir(site: Path, target: Path) -> str:
    """Replace `target` (new, empty, or an earlier published site) with a copy of the site."""
    _check_site(site)
    if target.resolve() == site.resolve():
        raise MedbenchError(f"{target} is the site itself; pass another folder")
    replace_folder(target, lambda staging: shutil.copytree(site, staging, dirs_exist_ok=True))
    return str((target / "index.html").resolve())


def publish_to_hf(site: Path, repo_id: str, repo_type: str = "space") -> str:
    """Create the repo if needed (a Space with the static SDK) and upload the site as one commit."""
    _check_site(site)
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type=repo_type, space_sdk="static" if repo_type == "space" else None, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, repo_type=repo_type, folder_path=site, ignore_patterns=[SITE_MARKER],
                                   delete_patterns=SITE_PATTERNS, commit_message="Update the medbench leaderboard")
    except HfHubHTTPError as exc:
        raise MedbenchError(f"publishing to {repo_id} failed: {str(exc).splitlines()[0]} "
                            "(log in with `hf auth login` or set HF_TOKEN to a token with write access)") from None
    except (ValueError, OSError) as exc:
        raise MedbenchError(f"publishing to {repo_id} failed: {str(exc).splitlines()[0]}") from None
    return commit.commit_url

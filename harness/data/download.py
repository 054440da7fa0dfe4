"""Verified downloads of a task's data file: progress bar, md5 check, atomic move into place.

A card with `url` and `md5` can be fetched into a data folder (default `$MEDBENCH_HOME/data`, where
loaders also look). The transfer goes to a temp file in the destination folder and is renamed only
after its length and md5 match, so a killed or corrupted download never sits under the real name.
A mirror (`--mirror`, or `MEDBENCH_MEDMNIST_URL_BASE`) replaces everything before the file name in
the card's URL: for a local copy of the files, or a test server.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from tqdm import tqdm

from harness.checksums import file_digest
from harness.errors import MedbenchError
from harness.paths import medbench_home

if TYPE_CHECKING:
    from harness.tasks import TaskSpec

MIRROR_ENV = "MEDBENCH_MEDMNIST_URL_BASE"
CHUNK = 1 << 20
TIMEOUT_S = 60


def default_data_dir() -> Path:
    """Where `medbench data fetch` puts files, and where loaders look when --data-dir lacks them."""
    return medbench_home() / "data"


def mirrored(url: str, mirror: str | None) -> str:
    """`url` with everything before its file name replaced by `mirror` (query dropped)."""
    if not mirror:
        return url
    return f"{mirror.rstrip('/')}/{Path(urlsplit(url).path).name}"


def data_file(spec: "TaskSpec") -> str:
    """The single file a downloadable card's loader reads (`source.args.file`)."""
    if not spec.url:
        where = f" (see {spec.homepage})" if spec.homepage else ""
        raise MedbenchError(f"task {spec.name} has no download URL: get its data from the dataset's site{where} "
                            f"and pass --data-dir to the folder holding it")
    file = spec.source.args.get("file")
    if not isinstance(file, str) or not file:
        raise MedbenchError(f"{spec.card_path}: a card with a url needs source.args.file, the name to save it under")
    return file


def download(url: str, dest: Path, md5: str, progress: bool = True) -> Path:
    """Fetch `url` to `dest` via a temp file beside it; refuse a short transfer or a wrong md5."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            received, digest, expected = _transfer(url, out, dest.name, progress)
        if expected is not None and received != expected:
            raise MedbenchError(f"download of {url} stopped after {received} of {expected} bytes; run the command again")
        if digest != md5:
            raise MedbenchError(f"download of {url} has md5 {digest}, expected {md5}: the transfer was corrupted or "
                                f"the server holds another file; try again or use another --mirror")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest


def _transfer(url: str, out: BinaryIO, label: str, progress: bool) -> tuple[int, str, int | None]:
    """Stream `url` into `out`; returns (bytes received, their md5, the announced length or None)."""
    digest = hashlib.md5()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with tqdm(total=expected, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        raise MedbenchError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; try again later or use --mirror") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise MedbenchError(f"download of {url} failed ({reason}); check the connection or use --mirror") from None
    return received, digest.hexdigest(), expected


def fetch_task(spec: "TaskSpec", data_dir: Path | None = None, mirror: str | None = None,
               progress: bool = True, force: bool = False) -> tuple[Path, str]:
    """Download a card's file unless a copy with the right md5 is there; returns (path, what happened).

    A present file with another md5 is kept unless `force`: it may be a deliberate re-saved copy."""
    dest = (data_dir or default_data_dir()) / data_file(spec)
    note = "downloaded, md5 ok"
    if dest.is_file():
        digest = file_digest(dest, "md5")
        if digest == spec.md5:
            return dest, "already present, md5 ok"
        if not force:
            raise MedbenchError(f"{dest} exists with md5 {digest}, not the published {spec.md5}: "
                                f"pass --force to replace it, or move it away")
        note = "replaced a copy with another md5; downloaded, md5 ok"
    download(mirrored(spec.url, mirror if mirror is not None else os.environ.get(MIRROR_ENV)), dest, spec.md5, progress)
    return dest, note


def verify_task(spec: "TaskSpec", data_dir: Path | None = None) -> tuple[Path, str] | None:
    """(path, "ok" | "md5 mismatch …") for a downloadable card whose file is present; None when absent."""
    path = (data_dir or default_data_dir()) / data_file(spec)
    if not path.is_file():
        return None
    digest = file_digest(path, "md5")
    return path, "ok" if digest == spec.md5 else f"md5 mismatch: {digest}, expected {spec.md5}"

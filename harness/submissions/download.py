"""Weights named by an https URL: downloaded once, with a size cap, into a cache keyed by their sha256.

The manifest's sha256 is checked while the bytes stream in, so a file that is too large or not the
declared one never lands in the cache; a cached file is used only after its hash is checked again.
Redirects must stay on https: a downgrade to http would let anyone on the path swap the bytes
before the checksum comparison had a chance to be the only defence.
"""

from __future__ import annotations

import hashlib
import http.client
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from harness.atomic import write_atomic
from harness.checksums import file_digest
from harness.errors import MedbenchError
from harness.paths import medbench_home

MAX_DOWNLOAD_BYTES = 2 * 1024**3  # the safe loader's default file cap
CHUNK = 1 << 20
TIMEOUT_S = 60


def download_cache() -> Path:
    return medbench_home() / "downloads"


def fetch_https(url: str, sha256: str, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """The verified local copy of `url`, downloaded only when the cache lacks it."""
    if urlsplit(url).scheme != "https":
        raise MedbenchError(f"weights URLs must be https://, not {url!r}")
    dest = download_cache() / f"{sha256}.weights"  # the name says nothing about the format; the loader reads bytes
    if dest.is_file() and file_digest(dest) == sha256:
        return dest
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl.create_default_context()),
                                         _HttpsOnlyRedirects())
    request = urllib.request.Request(url, headers={"User-Agent": "medbench"})
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _too_big(url, max_bytes)
            write_atomic(dest, _verified_stream(response, url, sha256, max_bytes))
    except urllib.error.HTTPError as exc:
        raise MedbenchError(f"could not download {url}: HTTP {exc.code} {exc.reason}; check the URL") from None
    except urllib.error.URLError as exc:
        raise MedbenchError(f"could not download {url} ({exc.reason}); check the URL and the network") from None
    except (OSError, http.client.HTTPException) as exc:
        raise MedbenchError(f"could not download {url} ({type(exc).__name__}: {exc}); try again") from None
    return dest


def _verified_stream(response: Any, url: str, sha256: str, max_bytes: int) -> Callable[[BinaryIO], None]:
    """Copy the body while hashing it; raising inside write_atomic leaves no file behind."""

    def write(handle: BinaryIO) -> None:
        digest, size = hashlib.sha256(), 0
        while chunk := response.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _too_big(url, max_bytes)
            digest.update(chunk)
            handle.write(chunk)
        if digest.hexdigest() != sha256:
            raise MedbenchError(f"the file at {url} has sha256 {digest.hexdigest()}, but the manifest says {sha256}; "
                                "fix the manifest's sha256 or the URL")

    return write


def _too_big(url: str, max_bytes: int) -> MedbenchError:
    return MedbenchError(f"the file at {url} is over the {max_bytes:,}-byte limit for weights; "
                         "check the URL points at the weights file")


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        if urlsplit(newurl).scheme != "https":
            raise MedbenchError(f"{req.full_url} redirects to {newurl!r}, which is not https; give the final https URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)

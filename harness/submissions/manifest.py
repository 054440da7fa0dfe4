"""The submission manifest: exactly these fields, each checked; anything else is an error.

There are deliberately no protocol, seed or training fields: the harness scores every submission
with its own protocols, so a submitter cannot pick the settings that flatter their weights.
The YAML is read with duplicate keys refused (PyYAML keeps the last one silently, which could hide
a second `weights:` from a reviewer) and with a size cap before parsing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from harness.errors import MedbenchError
from harness.submissions.text import (
    check_contact,
    check_https_url,
    check_slug,
    check_text,
    check_text_list,
)

MAX_MANIFEST_BYTES = 64 * 1024
SHA256 = re.compile(r"[0-9a-f]{64}")
BACKBONE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)?")  # a timm name, optionally NAME.TAG
HUB_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
HUB_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
WEIGHTS_USAGE = "file:PATH (relative to the manifest's folder), hf:ORG/REPO@REVISION or an https:// URL"


@dataclass(frozen=True)
class WeightsRef:
    """Where the weights are: kind is 'file', 'hf' or 'url'."""

    kind: str
    text: str  # as written in the manifest
    path: str = ""  # file: relative path
    repo_id: str = ""  # hf:
    revision: str = ""  # hf: branch, tag or commit as written
    url: str = ""  # https URL


@dataclass(frozen=True)
class Manifest:
    id: str
    name: str
    authors: tuple[str, ...]
    contact: str
    license: str
    homepage: str
    description: str
    backbone: str
    weights: WeightsRef
    sha256: str
    pretraining_data: tuple[str, ...]
    citation: str
    path: Path  # the manifest file, resolved
    manifest_sha256: str  # of the manifest's bytes, so a record says exactly which manifest was scored

    @property
    def folder(self) -> Path:
        return self.path.parent

    def weights_file(self) -> Path:
        """A `file:` reference resolved against the manifest's folder, which it may not leave (not even by a
        symlink): a scorer must not be made to read, and echo bytes of, files elsewhere on its machine."""
        path = (self.folder / self.weights.path).resolve()
        if not path.is_relative_to(self.folder):
            raise MedbenchError(f"{self.path}: weights {self.weights.text!r} lead outside the manifest's folder "
                                f"(to {path}); put the weights file itself in {self.folder}")
        return path

    def fields(self) -> dict[str, Any]:
        """The manifest as written (JSON-ready), for provenance and for writing it back out."""
        return {name: _plain(getattr(self, name)) for name in FIELDS}


def check_backbone_name(value: object, field: str) -> str:
    text = check_text(value, field, 100)
    if not BACKBONE.fullmatch(text):
        raise MedbenchError(f"manifest field {field!r} must be a timm model name such as resnet50 or "
                            f"vit_small_patch16_224.augreg_in21k, not {text!r}")
    return text


def parse_weights(value: object, field: str = "weights") -> WeightsRef:
    text = check_text(value, field, 500)
    kind, colon, rest = text.partition(":")
    if kind == "file" and colon:
        path = PurePosixPath(rest)
        if not rest or path.is_absolute() or rest.startswith("~") or "\\" in rest or ".." in path.parts:
            raise MedbenchError(f"manifest field {field!r}: {text!r} must be a path inside the manifest's folder "
                                "(file:weights.safetensors), without '..'")
        return WeightsRef("file", text, path=rest)
    if kind == "hf" and colon:
        repo_id, at, revision = rest.partition("@")
        if not (HUB_REPO.fullmatch(repo_id) and at and HUB_REVISION.fullmatch(revision) and len(revision) <= 100):
            raise MedbenchError(f"manifest field {field!r}: {text!r} must be hf:ORG/REPO@REVISION (a branch, tag or "
                                "40-hex commit; a branch is resolved to its commit and recorded)")
        return WeightsRef("hf", text, repo_id=repo_id, revision=revision)
    if kind == "https" and colon:
        return WeightsRef("url", text, url=check_https_url(text, field, 500))
    raise MedbenchError(f"manifest field {field!r} must be {WEIGHTS_USAGE}, not {text!r}")


def check_sha256(value: object, field: str = "sha256") -> str:
    text = check_text(value, field, 64).lower()
    if not SHA256.fullmatch(text):
        raise MedbenchError(f"manifest field {field!r} must be the 64-hex sha256 of the weights file "
                            f"(sha256sum FILE), not {text!r}")
    return text


# field → checker; the order is the order `submit new` writes them in.
FIELDS: dict[str, Callable[[object, str], Any]] = {
    "id": lambda v, f: check_slug(v, f, 64),
    "name": lambda v, f: check_text(v, f, 120),
    "authors": lambda v, f: check_text_list(v, f, 50, 120),
    "contact": lambda v, f: check_contact(v, f, 200),
    "license": lambda v, f: check_text(v, f, 100),
    "homepage": lambda v, f: check_https_url(v, f, 300),
    "description": lambda v, f: check_text(v, f, 2000, multiline=True),
    "backbone": check_backbone_name,
    "weights": parse_weights,
    "sha256": check_sha256,
    "pretraining_data": lambda v, f: check_text_list(v, f, 50, 120),
    "citation": lambda v, f: check_text(v, f, 2000, multiline=True),
}


def parse_manifest(raw: object, path: Path, manifest_sha256: str = "") -> Manifest:
    """Check a parsed YAML document field by field; every message names the manifest and the field."""
    try:
        if not isinstance(raw, dict):
            raise MedbenchError("a manifest must be a YAML mapping of fields")
        unknown = sorted(str(k) for k in raw if k not in FIELDS)
        if unknown:
            raise MedbenchError(f"unknown field(s) {', '.join(unknown)}; a manifest has exactly: {', '.join(FIELDS)}")
        missing = [name for name in FIELDS if name not in raw]
        if missing:
            raise MedbenchError(f"missing field(s) {', '.join(missing)}")
        values = {name: check(raw[name], name) for name, check in FIELDS.items()}
    except MedbenchError as exc:
        raise MedbenchError(f"{path}: {exc}") from None
    return Manifest(**values, path=path.resolve(), manifest_sha256=manifest_sha256)


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest file (or the manifest.yaml inside a folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.yaml"
    if not path.is_file():
        raise MedbenchError(f"manifest {path} does not exist; create one with `medbench submit new`")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise MedbenchError(f"manifest {path} is over {MAX_MANIFEST_BYTES:,} bytes; a manifest holds short metadata only")
    data = path.read_bytes()
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_StrictLoader)  # a SafeLoader subclass
    except UnicodeDecodeError:
        raise MedbenchError(f"{path}: a manifest must be UTF-8 text") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise MedbenchError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_manifest(raw, path, hashlib.sha256(data).hexdigest())


def to_yaml(fields: dict[str, Any]) -> str:
    """Fields in manifest order as YAML (what `submit new` writes)."""
    return yaml.safe_dump({name: fields[name] for name in FIELDS}, sort_keys=False, allow_unicode=True, width=100)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                raise ValueError(f"field {key!r} is given twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _plain(value: Any) -> Any:
    if isinstance(value, WeightsRef):
        return value.text
    return list(value) if isinstance(value, tuple) else value

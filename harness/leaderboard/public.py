"""What a published page may say: no absolute local paths (they name users, machines and folders).

Records carry paths on purpose (`file:/home/ana/w.safetensors`, a manifest's location): they are
provenance for their owner. A page or download made for others shows the last component only.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from markupsafe import Markup

from harness.results import slug

# An absolute POSIX, home-relative or Windows path of two or more components, not inside a URL or a
# relative path (nothing path-like or word-like right before it).
_LOCAL_PATH = re.compile(r"(?<![\w.\-/\\])(?:~|[A-Za-z]:)?(?:[/\\][^\s/\\'\"<>|;,()]+){2,}[/\\]?")


def without_local_paths(text: str) -> str:
    """`text` with every absolute local path shortened to `…/<last component>`."""
    return _LOCAL_PATH.sub(lambda m: "…/" + re.split(r"[/\\]", m.group(0).rstrip("/\\"))[-1], text)


def public(value: Any) -> Any:
    """`value` (str, mapping, list, anything) with local paths removed from every string inside it."""
    if isinstance(value, Markup):
        return value  # already rendered from finalized parts
    if isinstance(value, str):
        return without_local_paths(value)
    if isinstance(value, dict):
        return {public(k): public(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(public(v) for v in value)
    return value


def page_output(value: Any) -> Any:
    """Jinja's `finalize`: every `{{ … }}` on a page passes here. Paths are dropped and a bare float
    (a learning rate in a manifest, say) shows 6 significant digits instead of 17."""
    if isinstance(value, float) and not isinstance(value, bool):
        return format(value, ".6g")
    return public(value)


def page_slug(name: str) -> str:
    """A file name for `name`'s page that shows no local path yet stays unique per full name."""
    shown = without_local_paths(name)
    if shown == name:
        return slug(name)
    return f"{slug(shown)[:48]}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"

"""Where medbench keeps what it generates: $MEDBENCH_HOME, default ~/.cache/medbench."""

from __future__ import annotations

import os
from pathlib import Path


def medbench_home() -> Path:
    return Path(os.environ.get("MEDBENCH_HOME") or Path.home() / ".cache" / "medbench")

"""The one CSV writer for tables that carry names from strangers (tasks, inits, backbones, submissions).

A spreadsheet runs a cell that begins with `=`, `+`, `-`, `@`, tab or carriage return as a formula
(OWASP "CSV injection"); such text cells get a leading `'`, which spreadsheets show as plain text.
Numbers are left alone, so a negative delta stays a number. Lines end in CRLF (RFC 4180), which also
makes the writer quote a cell holding a carriage return instead of letting it split the row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.atomic import write_text_atomic

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text cell made inert for spreadsheets; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_safe_csv(frame: pd.DataFrame) -> str:
    """`frame` as CSV text, every text cell (and header) passed through `safe_cell`."""
    clean = frame.copy()
    clean.columns = [safe_cell(str(c)) for c in clean.columns]
    for column in clean.columns:
        if not pd.api.types.is_numeric_dtype(clean[column]):  # object or pandas' str dtype
            clean[column] = clean[column].map(safe_cell)
    return clean.to_csv(index=False, lineterminator="\r\n")  # RFC 4180; also makes the writer quote a lone \r


def write_safe_csv(frame: pd.DataFrame, path: Path) -> None:
    write_text_atomic(path, to_safe_csv(frame))

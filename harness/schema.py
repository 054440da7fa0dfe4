"""Strict checks for the YAML mappings users write (task cards, recipes, leaderboard definitions):
an unknown or missing field is an error naming the file and the field, so a typo cannot silently
change a benchmark."""

from __future__ import annotations

from typing import Any

from harness.errors import MedbenchError


def check_mapping(raw: Any, where: str, what: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise MedbenchError(f"{where}: a {what} must be a YAML mapping")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise MedbenchError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(raw))
    if missing:
        raise MedbenchError(f"{where}: missing field(s) {', '.join(missing)}")
    return raw

"""Check a JSON value against a type hint, and write that hint as JSON Schema: one reading of the hints
for both, so a typed record's validation and its published schema say the same thing.

Covers what JSON records use: str, int, float, bool, None, Any, Literal, unions, list[X], dict[str, X].
"""

from __future__ import annotations

import types
import typing
from typing import Any

from harness.errors import MedbenchError

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) and _fits(v, args[1]) for k, v in value.items())
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def check_value(value: Any, hint: Any, where: str) -> None:
    """Nothing when `value` fits `hint`; else one line saying what was expected."""
    if not _fits(value, hint):
        shown = repr(value) if isinstance(value, (str, int, float, bool, type(None))) else f"a JSON {_kind(value)}"
        raise MedbenchError(f"{where} must be {describe(hint)}, not {shown[:80]}")


def _kind(value: Any) -> str:
    return {dict: "object", list: "array"}.get(type(value), type(value).__name__)


def describe(hint: Any) -> str:
    """The hint in words, for error messages."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if origin is typing.Literal:
        return " or ".join(repr(arg) for arg in args)
    if origin is list:
        return "a list"
    if origin is dict:
        return "an object"
    return {str: "text", int: "a whole number", float: "a number", bool: "true or false",
            type(None): "null"}.get(hint, str(hint))


def schema_of(hint: Any) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a hint."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [schema_of(arg) for arg in args]}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(args[1])}
    return {"type": _JSON_TYPES[hint]}

"""docs/record.schema.json and the generated parts of docs/record.md, written from `RunRecord`.

`python -m harness.record_docs` rewrites them; tests/test_record.py fails when they are out of date,
so the published schema and the field table always describe the type the code reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.record import RunRecord, json_schema

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCHEMA_FILE = DOCS / "record.schema.json"
PAGE = DOCS / "record.md"
EXAMPLE = Path(__file__).resolve().parents[1] / "tests" / "records" / "v1-knn-budget8.json"
BLOCKS = ("fields", "example")  # <!-- NAME:begin --> … <!-- NAME:end --> in docs/record.md


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " or ".join(_type(part) for part in schema["anyOf"])
    if "enum" in schema:
        return " or ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
    return schema.get("type", "any")


def field_table() -> str:
    schema = json_schema()
    rows = ["| field | type | required | what it holds |", "|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        required = "yes" if name in schema["required"] else ""
        text = prop["description"].replace("|", "\\|")  # a bar would end the table cell
        rows.append(f"| `{name}` | {_type(prop)} | {required} | {text} |")
    return "\n".join(rows)


def example() -> str:
    """A real record (made by `medbench run --mode knn --label-budget 8`, schema 1) read through `upgrade()`."""
    record = RunRecord.from_json(EXAMPLE.read_text(), str(EXAMPLE))
    return "```json\n" + record.to_json() + "```"


def page_text(current: str) -> str:
    """docs/record.md with its generated blocks replaced."""
    for name, body in zip(BLOCKS, (field_table(), example())):
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
        current = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), current)
    return current


def main() -> None:
    SCHEMA_FILE.write_text(schema_text())
    PAGE.write_text(page_text(PAGE.read_text()))
    print(f"wrote {SCHEMA_FILE} and {PAGE}")


if __name__ == "__main__":
    main()

"""`RunRecord`: the one typed result record, its JSON form, its schema versions and its one flattening.

A plain frozen dataclass, not pydantic: the record is small, medbench has no pydantic dependency,
and `medbench status` / `results` stay quick to start. Validation is `harness.typecheck` over the
same type hints that `json_schema()` publishes (docs/record.schema.json), so the check and the
schema cannot drift apart.

Records come from strangers (submissions), so reading is strict: a known field of the wrong type,
a missing identity field, NaN/Infinity or an unknown schema version is a one-line error naming the
file. Unknown top-level fields are kept, not refused and not read: a record written by a newer
medbench of the same schema version (or a branch adding fields) still loads, `to_json` writes the
fields back unchanged, and nothing here trusts them. A field becomes known by adding it to the class.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_type_hints

from harness.errors import MedbenchError
from harness.typecheck import check_value, schema_of

SCHEMA_VERSION = 2
DEFAULT_MODE = "finetune"  # what a record without `mode` was: records predate evaluation regimes
FULL_BUDGET = "full"  # label budget of a run on every training label
Status = Literal["ok", "diverged", "failed"]


def doc(text: str, default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING) -> Any:
    """A field with its description, which the JSON Schema and docs/record.md show."""
    return field(default=default, default_factory=factory, metadata={"doc": text})


@dataclass(frozen=True)
class RunRecord:
    task: str = doc("task card name")
    init: str = doc("init source as given (`scratch`, `imagenet`, `file:PATH`, `hf:ORG/REPO@REV`, a submission id)")
    backbone: str = doc("timm model name")
    protocol: str = doc("protocol name (`smoke`, `quick`, `paper`, …)")
    seed: int = doc("the run's seed")
    status: Status = doc("ok, diverged (non-finite loss) or failed (the error says why)")
    schema_version: int = doc("version of this schema the record was written with", SCHEMA_VERSION)
    error: str | None = doc("why a run did not finish ok", None)
    mode: str = doc("evaluation mode: finetune | linear-probe | knn", DEFAULT_MODE)
    label_budget: int | Literal["full"] = doc("labels per class in the training subset, or full", FULL_BUDGET)
    image_size: int | None = doc("input size in px the model saw", None)
    regime: dict[str, Any] = doc("what the evaluation regime did (tag, size_override, image_source, …)", factory=dict)
    metrics: dict[str, Any] = doc("test metrics of the model selected on validation (names: harness.metric_catalogue)",
                                  factory=dict)
    metrics_last_epoch: dict[str, Any] | None = doc("test metrics after the last epoch", None)
    val_metrics: dict[str, Any] | None = doc("validation metrics of the selected model", None)
    efficiency: dict[str, Any] = doc("speed, size and cost figures (names: harness.metric_catalogue)", factory=dict)
    history: list[dict[str, Any]] = doc("one entry per epoch (loss, learning rate, validation metrics)", factory=list)
    artifacts: dict[str, Any] = doc("files beside the record, relative to its folder (CAMs, test predictions)",
                                    factory=dict)
    model: dict[str, Any] = doc("what was built: backbone, stem, classes, channels, size, normalisation, load report",
                                factory=dict)
    provenance: dict[str, Any] = doc("what produced it: versions, git sha, hardware, data and weight sha256, "
                                     "where the pixels were read from (data_path: memory or the pixel store, per "
                                     "split, and why), task card, protocol, command, start and end times", factory=dict)
    data_audit: dict[str, Any] | None = doc("the dataset audit the run applied (duplicates across splits)", None)
    submission: dict[str, Any] | None = doc("the submission's manifest summary, for runs of a submission", None)
    contaminated: bool = doc("the init's pretraining data hold this task's data: a submission declared it, or the "
                             "CPMID build's fingerprints matched val/test images at run start", False)
    contamination: dict[str, Any] | None = doc("which datasets contaminate the task (and, for a CPMID build, how many "
                                               "copies)", None)
    cpmid_screening: dict[str, Any] | None = doc("for a CPMID-initialised run: whether and when the task's val/test "
                                                 "images were screened against that build, and the copies found", None)
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False,
                                  metadata={"doc": "fields this medbench does not know, kept as written"})

    @classmethod
    def from_dict(cls, raw: Any, where: str = "record") -> RunRecord:
        """Checked and upgraded to this schema version; every problem is one line naming `where`."""
        data = upgrade(raw, where)
        known = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        hints = get_type_hints(cls)
        missing = [f.name for f in dataclasses.fields(cls) if f.name in known and f.name not in data
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise MedbenchError(f"{where}: missing field(s) {', '.join(missing)}; not a result record")
        for name in known & set(data):
            check_value(data[name], hints[name], f"{where}: field {name}")
        extra = {key: value for key, value in data.items() if key not in known}
        return cls(**{key: data[key] for key in known & set(data)}, extra=extra)

    @classmethod
    def from_json(cls, text: str, where: str = "record") -> RunRecord:
        return cls.from_dict(parse_json(text, where), where)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**self.extra, **data}

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @property
    def state(self) -> str:
        """What a leaderboard shows: `contaminated` overrides the status, since such a number is never ranked."""
        return "contaminated" if self.contaminated else self.status

    def row(self, path: Path) -> dict[str, Any]:
        """The one flattening of a record into a table row (`medbench results`, `status`, the leaderboard).

        Metric columns are `metric:NAME`, efficiency columns `eff:NAME`; only numbers (not lists or flags)."""
        prov = self.provenance
        row: dict[str, Any] = {
            "task": self.task, "init": self.init, "backbone": self.backbone, "protocol": self.protocol, "seed": self.seed,
            "mode": self.mode, "label_budget": str(self.label_budget),
            "image_size": self.image_size, "size_override": bool(self.regime.get("size_override")),
            "status": self.status, "state": self.state, "contaminated": self.contaminated,
            "contaminated_by": ", ".join(map(str, (self.contamination or {}).get("datasets") or [])),
            "declared_seeds": tuple(int(s) for s in (prov.get("protocol_config") or {}).get("seeds") or ()),
            "path": str(path), "error": self.error, "finished_at": prov.get("finished_at") or "",
            **{key: prov.get(key) for key in ("medbench_version", "git_sha", "torch", "timm", "device", "data_sha256",
                                              "weights_sha256")},
            "predictions": (str(path.parent / str(self.artifacts["test_predictions"]))
                            if self.artifacts.get("test_predictions") else None),
        }
        for section, prefix in ((self.metrics, METRIC_COLUMN), (self.efficiency, EFFICIENCY_COLUMN)):
            row.update({prefix + name: value for name, value in scalars(section).items()})
        return row


METRIC_COLUMN, EFFICIENCY_COLUMN = "metric:", "eff:"  # column prefixes of a flattened record


def scalars(section: dict[str, Any] | None) -> dict[str, float]:
    """The numeric entries of a record section (metrics, efficiency); lists, strings and flags are left out."""
    return {name: float(value) for name, value in (section or {}).items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def json_safe(value: Any) -> Any:
    """Replace NaN/Inf by None recursively and turn tuples/numpy scalars into JSON types."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def dumps(data: Any) -> str:
    """The JSON text of a record (or any result file): sorted keys, NaN/Inf as null, so files diff cleanly."""
    return json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n"


def parse_json(text: str, where: str) -> Any:
    """JSON as medbench writes it: NaN and Infinity are refused (one line naming `where`)."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except ValueError as exc:
        raise MedbenchError(f"{where} is not a readable result record ({exc}); delete it and re-run") from None


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not a number a record may hold (medbench writes null for undefined values)")


def upgrade(raw: Any, where: str = "record") -> dict[str, Any]:
    """A record of any schema version this medbench reads, as a dict of the current version.

    Version 1 (before evaluation regimes, and before `mode`, `label_budget`, `image_size` were required): the
    regime is fine-tuning on every label at the model's size; a hand-made `flags: [contaminated]` means
    `contaminated: true`."""
    if not isinstance(raw, dict):
        raise MedbenchError(f"{where} holds a JSON {type(raw).__name__}, not a result record (an object); "
                            "move it out of the results folder")
    version = raw.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= SCHEMA_VERSION:
        raise MedbenchError(f"{where}: schema_version {version!r} is not one this medbench reads "
                            f"(1 to {SCHEMA_VERSION}); upgrade medbench")
    data = dict(raw)
    if version == 1:
        model = data.get("model") if isinstance(data.get("model"), dict) else {}
        data["mode"] = data.get("mode") or DEFAULT_MODE
        data["label_budget"] = FULL_BUDGET if data.get("label_budget") is None else data["label_budget"]
        data["image_size"] = data.get("image_size") or model.get("image_size")
        data.setdefault("regime", {"tag": "", "size_override": False})
        flags = data.pop("flags", None)
        if isinstance(flags, list) and "contaminated" in flags:
            data["contaminated"] = True
    data["schema_version"] = SCHEMA_VERSION
    return data


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of the current record (docs/record.schema.json is this, written out)."""
    hints = get_type_hints(RunRecord)
    fields = [f for f in dataclasses.fields(RunRecord) if f.name != "extra"]
    properties = {f.name: {**schema_of(hints[f.name]), "description": f.metadata["doc"]} for f in fields}
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "medbench RunRecord",
            "description": f"One medbench result record, schema_version {SCHEMA_VERSION}. Older versions are read "
                           "through harness.record.upgrade; fields not listed here are kept as written.",
            "type": "object", "properties": properties, "required": [*required, "schema_version"],
            "additionalProperties": True}

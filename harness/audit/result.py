"""What an audit found, as plain data: groups of copies, their counts, and the JSON form that is
cached, printed by `medbench data audit --json` and summarised in run records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.data.arrays import SPLITS
from harness.errors import MedbenchError

AUDIT_VERSION = 2  # 2: the shared copy matcher (near and transformed groups, within splits too); bump when the search or the rule changes what is found: cached audits are redone


@dataclass(frozen=True)
class Member:
    split: str
    index: int  # position in the split, as loaded
    name: str | None = None  # file id, for folder datasets

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "index": self.index, **({"name": self.name} if self.name is not None else {})}

    def label(self) -> str:
        return f"{self.split}[{self.name if self.name is not None else self.index}]"


@dataclass(frozen=True)
class Group:
    """Images that are copies of each other: `exact` (same decoded pixels), or `near` / `transformed`
    (linked by confirmed pairs (member, member, pair kind, correlation); `transformed` when any link
    needed a crop, squash, flip or rotation)."""

    kind: str
    members: tuple[Member, ...]
    pairs: tuple[tuple[int, int, str, float], ...] = ()

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if any(m.split == s for m in self.members)]

    @property
    def crosses_splits(self) -> bool:
        return len(self.splits) > 1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "splits": self.splits, "members": [m.to_dict() for m in self.members]}
        if self.pairs:
            out["pairs"] = [{"a": a, "b": b, "kind": k, "correlation": c} for a, b, k, c in self.pairs]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Group":
        members = tuple(Member(m["split"], int(m["index"]), m.get("name")) for m in raw["members"])
        pairs = tuple((int(p["a"]), int(p["b"]), str(p["kind"]), float(p["correlation"]))
                      for p in raw.get("pairs", ()))
        return cls(raw["kind"], members, pairs)


@dataclass(frozen=True)
class Audit:
    dataset: str
    data_sha256: str
    n_images: dict[str, int]
    groups: tuple[Group, ...]
    near_rule: dict[str, Any]
    seconds: float
    created_at: str
    medbench_version: str

    def exact(self) -> list[Group]:
        return [g for g in self.groups if g.kind == "exact"]

    def cross_split(self) -> list[Group]:
        return [g for g in self.groups if g.crosses_splits]

    def counts(self) -> dict[str, int]:
        """`cross_split_near` counts every non-exact group across splits (near or transformed), so a
        policy that reads it misses no kind; `cross_split_transformed` is its transformed part."""
        exact = self.exact()
        linked = [g for g in self.groups if g.kind != "exact"]
        return {
            "exact_groups": len(exact),
            "exact_within_split": sum(not g.crosses_splits for g in exact),
            "cross_split_exact": sum(g.crosses_splits for g in exact),
            "cross_split_near": sum(g.crosses_splits for g in linked),
            "cross_split_transformed": sum(g.crosses_splits for g in linked if g.kind == "transformed"),
            "within_split_copy_groups": sum(not g.crosses_splits for g in linked),
            "near_pairs": sum(len(g.pairs) for g in linked),
            "train_in_cross_split_groups": len(self.train_indices_in_cross_split_groups()),
        }

    def train_indices_in_cross_split_groups(self) -> list[int]:
        """Train images that have a copy in val or test: what `drop-from-train` removes."""
        return sorted({m.index for g in self.cross_split() for m in g.members if m.split == "train"})

    def to_dict(self) -> dict[str, Any]:
        return {
            "audit_version": AUDIT_VERSION, "dataset": self.dataset, "data_sha256": self.data_sha256,
            "n_images": self.n_images, **self.counts(), "near_rule": self.near_rule,
            "cross_split_groups": [g.to_dict() for g in self.cross_split()],
            "within_split_groups": [g.to_dict() for g in self.groups if not g.crosses_splits],
            "seconds": self.seconds, "created_at": self.created_at, "medbench_version": self.medbench_version,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Audit":
        if raw.get("audit_version") != AUDIT_VERSION:
            raise MedbenchError(f"audit version {raw.get('audit_version')!r} is not {AUDIT_VERSION}")
        groups = tuple(Group.from_dict(g) for g in [*raw["cross_split_groups"], *raw["within_split_groups"]])
        return cls(raw["dataset"], raw["data_sha256"], dict(raw["n_images"]), groups, dict(raw["near_rule"]),
                   float(raw["seconds"]), raw["created_at"], raw["medbench_version"])

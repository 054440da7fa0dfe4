"""An audit in words, for `medbench data audit` and `medbench tasks show`."""

from __future__ import annotations

from harness.audit.result import Audit, Group

SHOWN_GROUPS = 20  # cross-split groups listed in the text report; --json has them all


def summary(audit: Audit) -> list[str]:
    """Counts and the near rule, a few lines."""
    counts, rule = audit.counts(), audit.near_rule
    sizes = ", ".join(f"{split} {n}" for split, n in audit.n_images.items())
    return [
        f"images: {sizes} (data sha256 {audit.data_sha256[:12]}…, audited {audit.created_at} in {audit.seconds:.1f} s)",
        f"exact copies: {counts['exact_groups']} group(s): {counts['cross_split_exact']} across splits, "
        f"{counts['exact_within_split']} within one split",
        f"near copies across splits: {counts['cross_split_near']} group(s), {counts['cross_split_transformed']} of "
        f"them cropped, squashed, flipped or rotated; within one split: {counts['within_split_copy_groups']} group(s) "
        f"({counts['near_pairs']} pair(s) in all); rule: aligned correlation ≥ {rule['min_correlation']} "
        f"(detail ≥ {rule['min_detail_correlation']}), docs/copies.md",
        f"train images with a copy in val or test: {counts['train_in_cross_split_groups']}",
    ]


def describe(audit: Audit, policy: str, cached: bool) -> list[str]:
    """The full text report: summary, the card's policy, and the first cross-split groups."""
    lines = [f"{audit.dataset}{' (cached audit)' if cached else ''}", *(f"  {line}" for line in summary(audit)),
             f"  audit_policy (task card): {policy}"]
    crossing = audit.cross_split()
    if crossing:
        lines.append("  cross-split groups:")
        lines += [f"    {_group(g)}" for g in crossing[:SHOWN_GROUPS]]
        if len(crossing) > SHOWN_GROUPS:
            lines.append(f"    … {len(crossing) - SHOWN_GROUPS} more (--json lists them all)")
    return lines


def _group(group: Group) -> str:
    members = ", ".join(m.label() for m in group.members)
    if group.kind == "exact":
        return f"exact  {members}"
    worst = min(c for _, _, _, c in group.pairs)
    return f"{group.kind:<6} {members}  (correlation ≥ {worst:.3f})"

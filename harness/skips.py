"""Work a run may leave out because its caller does not check it: `MEDBENCH_SKIP=inference-timing,cams,data-audit`.

Real runs do everything (the variable is unset). The test suite sets it, because timing inference, drawing
Grad-CAMs and auditing a task's splits for copies cost more CPU than the smoke training they follow; none of
them changes a metric (an audit that would change the training data is never skipped); a record made with a skip says so in
provenance.skipped_work (and, per kind, where the work would have been), so it is never mistaken for a full one.
"""

from __future__ import annotations

import os

from harness.errors import MedbenchError

SKIP_ENV = "MEDBENCH_SKIP"
KINDS = {
    "inference-timing": "inference is timed once without warm-up (efficiency.infer_warmup/infer_repeats say so)",
    "cams": "no Grad-CAMs or localisation scores (artifacts.cam_skipped says so)",
    "data-audit": "no run-time copy audit where the card's audit_policy only warns (data_audit.skipped says so); "
                  "a card whose policy changes the training data is audited anyway",
}


def skipped_work() -> tuple[str, ...]:
    """The kinds of work $MEDBENCH_SKIP turns off, sorted; an unknown kind is a user error, not ignored."""
    names = {name.strip() for name in os.environ.get(SKIP_ENV, "").split(",") if name.strip()}
    unknown = sorted(names - KINDS.keys())
    if unknown:
        raise MedbenchError(f"{SKIP_ENV} names unknown work {', '.join(map(repr, unknown))}; "
                            f"use a comma-separated subset of {', '.join(KINDS)} (or leave it unset)")
    return tuple(sorted(names))


def skips(kind: str) -> bool:
    """Whether this process leaves out `kind` (one of KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of skippable work {kind!r}")
    return kind in skipped_work()

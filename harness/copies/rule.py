"""What counts as a copy: the matcher's knobs, recorded with every audit and leakage check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("exact", "near", "transformed")


@dataclass(frozen=True)
class CopyRule:
    """Thresholds and method knobs of the copy matcher (see docs/copies.md for how they were chosen)."""

    min_correlation: float = 0.975  # aligned correlation of the lightly blurred canvases
    min_detail_correlation: float = 0.85  # and of their band-passed versions, at the same alignment
    min_start_correlation: float = 0.4  # blurred-canvas correlation at the retrieved view, before refining
    min_retrieval_score: float = 0.5  # cosine of the embeddings that makes a pair worth verifying
    candidates: int = 2  # reference images verified per query image and orientation
    crop_fractions: tuple[float, ...] = (1.0, 0.84, 0.7)  # per-side crops indexed for the reference
    squash_fractions: tuple[float, ...] = (0.58, 0.42)  # one side only (a square crop of a wide picture)
    nprobe: int = 8  # inverted lists searched per query vector

    def describe(self) -> dict[str, Any]:
        """JSON-able values (lists, not tuples), so a cached audit compares equal after a round trip."""
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        out["method"] = ("gray 64-px working image; 8x8 low DCT of 32-px canvases of crop views, minus the "
                         "reference mean, k-means IVF retrieval over the 8 dihedral orientations; verified by "
                         "correlation of blurred and band-passed canvases after refining the crop box, coarse (16-px "
                         "canvases) then fine (pairs far below the thresholds stop refining early)")
        return out


DEFAULT_RULE = CopyRule()


@dataclass(frozen=True)
class CopyPair:
    """One confirmed copy: `query` of the searched images is a copy of `reference`."""

    query: int
    reference: int
    score: float  # the verified correlation (1.0 for exact copies)
    kind: str  # "exact" (same decoded pixels), "near" (resized / re-encoded / tone) or "transformed" (cropped, flipped, rotated)
    detail: float = 1.0  # the band-passed correlation at the same alignment

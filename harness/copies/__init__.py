"""One copy matcher for the dataset audit, the CPMID leakage check and `submit validate --check-images`:
exact copies, and copies that were resized, squashed, cropped (≥ 70 % of each side), re-encoded,
turned gray or RGB, brightened, flipped or rotated by 90° (docs/copies.md)."""

from harness.copies.match import (
    Catalogue, Reference, clusters_of, copies_in, copy_clusters, copy_pairs, pairs_between, same_digest,
)
from harness.copies.rule import DEFAULT_RULE, KINDS, CopyPair, CopyRule

__all__ = ["Catalogue", "CopyPair", "CopyRule", "DEFAULT_RULE", "KINDS", "Reference", "clusters_of", "copies_in", "copy_clusters",
           "copy_pairs", "pairs_between", "same_digest"]

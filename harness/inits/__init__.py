"""Initialization sources: `--init NAME[:ARG]` plus a backbone name → weights and their provenance."""

from harness.inits.base import (
    INIT_SOURCES,
    InitSource,
    ResolvedWeights,
    describe_inits,
    resolve_init,
)
from harness.inits.safe_load import load_weights_file

# Importing a source module registers it in INIT_SOURCES.
from harness.inits import cpmid, hub_repo, imagenet, local_file, scratch, submission  # noqa: E402,F401  isort: skip

__all__ = ["INIT_SOURCES", "InitSource", "ResolvedWeights", "describe_inits", "load_weights_file", "resolve_init"]

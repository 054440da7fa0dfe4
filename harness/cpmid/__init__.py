"""CPMID: a declared, reproducible pretraining set built from a recipe, guarded against downstream leakage.

`build_cpmid` turns `tasks/cpmid/<name>.yaml` into packed shards + manifest.json + DATASHEET.md;
`open_cpmid` verifies and memory-maps a built folder; `cpmid_info` prints its datasheet.
"""

from harness.cpmid.build import build_cpmid
from harness.cpmid.reader import (
           CpmidSet,
           CpmidSplit,
           cpmid_info,
           open_cpmid,
           to_task_data,
)
from harness.cpmid.recipe import Recipe, RecipeSource, load_recipe, recipes

__all__ = ["build_cpmid", "cpmid_info", "open_cpmid", "to_task_data", "CpmidSet", "CpmidSplit", "Recipe",
           "RecipeSource", "load_recipe", "recipes"]

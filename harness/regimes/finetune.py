"""Registers `finetune`, the default mode: end-to-end training by the engine, then CAMs and test predictions.

The function itself lives in `harness.runner` beside the grid it serves (and imports this package),
so it is imported when the mode runs; registering it here makes the mode known wherever regimes are.
"""

from __future__ import annotations

from harness.regimes.modes import MODES, CellInputs, Mode, ModeResult
from harness.tasks import KINDS


def _finetune(inputs: CellInputs) -> ModeResult:
    from harness.runner import finetune

    return finetune(inputs)


MODES.add("finetune", Mode(_finetune, KINDS, "end-to-end fine-tuning of the whole network"))

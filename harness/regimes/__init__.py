"""Evaluation regimes: how an initialization is used (fine-tune, linear probe, kNN), with how many
labels and at what image size.

An evaluation mode is one registered `Mode`: a function from the prepared inputs of one seeded run
(model with its weights loaded, splits, transform) to an `Outcome`, and the task kinds it can
score (`harness.regimes.modes`). Fine-tuning lives in `harness.regimes.finetune`, the frozen-feature
modes in `harness.regimes.frozen`; `harness.regimes.plan`, which looks modes up, imports both. This package's
top level stays free of torch, so the CLI can parse a regime before importing it.
"""

from harness.regimes.regime import KNN_K, Regime, parse_label_budget

__all__ = ["KNN_K", "Regime", "parse_label_budget"]

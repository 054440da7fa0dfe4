"""The frozen-feature modes: `linear-probe` (a logistic-regression head) and `knn` on cached features.

The backbone never trains: its pre-logit features are extracted once per (weights, pixels, size,
normalisation) and reused (see `harness.regimes.features`). Both modes score with the evaluator
fine-tuning uses, write per-image test probabilities for paired bootstraps, and record what they
chose (the probe's penalty, kNN's k and weighting) under the record's `regime`.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from harness.efficiency import count_params, flops_per_image
from harness.engine import Outcome, mixed_precision
from harness.kinds import CLASSIFICATION_KINDS
from harness.objectives import ClassificationObjective, objective_for
from harness.regimes.features import FeatureSet, cached_features
from harness.regimes.knn import DISTANCE, WEIGHTING, shares_as_logits, vote_shares
from harness.regimes.modes import MODES, CellInputs, Mode, ModeResult
from harness.regimes.probe import SOLVER, evaluate_logits, fit_probe
from harness.results import write_test_predictions

FROZEN_FLOPS_RULE = "forward FLOPs × training images (features extracted once, no backward pass; the head's fit is not counted)"
Scorer = Callable[[CellInputs, ClassificationObjective, dict[str, torch.Tensor], dict[str, torch.Tensor]],
                  tuple[dict[str, Any], torch.Tensor, dict[str, Any], list[dict[str, Any]]]]


def _run_frozen(inputs: CellInputs, score: Scorer) -> ModeResult:
    """Features (cached), then the mode's scorer on them: val metrics, test logits, details, history."""
    tic = time.perf_counter()
    model = inputs.model.to(inputs.device)
    objective = objective_for(inputs.task.kind, inputs.task.num_classes, inputs.protocol)
    try:
        autocast, precision = mixed_precision(inputs.device)
        identity = {**inputs.identity, "precision": precision}
        features: FeatureSet = cached_features(model, inputs.splits, inputs.transform, identity,
                                               inputs.protocol.eval_batch_size, autocast)
        x = {name: torch.from_numpy(f) for name, f in features.features.items()}
        y = {name: split.targets.cpu() for name, split in inputs.splits.items()}
        fit_tic = time.perf_counter()
        val_metrics, test_logits, details, history = score(inputs, objective, x, y)
        fit_seconds = time.perf_counter() - fit_tic
    except RuntimeError as exc:  # e.g. out of memory: recorded, the sweep goes on
        return ModeResult(Outcome(status="failed", error=f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
    image_shape = inputs.splits["train"].image_shape
    flops, images = flops_per_image(model, image_shape), len(inputs.splits["train"])
    selection = details.pop("selection", "nothing is selected: kNN has no fitted parameters")
    outcome = Outcome(status="ok", metrics=evaluate_logits(objective, test_logits, y["test"]), val_metrics=val_metrics,
                      history=history, efficiency={
                          "params": count_params(model), "flops": flops,
                          "feature_seconds": features.seconds, "fit_seconds": fit_seconds,
                          "wall_time_s": time.perf_counter() - tic, "train_images": images,
                          "train_flops": flops * images if flops else None, "train_flops_rule": FROZEN_FLOPS_RULE,
                          "feature_dim": int(x["train"].shape[1]),
                          "selection": selection})
    artifacts: dict[str, Any] = {"cam_skipped": "frozen-feature modes train no network to explain"}
    if inputs.artifact_dir is not None:
        path = inputs.artifact_dir / "test_predictions.npz"
        write_test_predictions(path, y["test"].numpy(), objective.probabilities(test_logits).numpy())
        artifacts["test_predictions"] = str(path.relative_to(inputs.artifact_dir.parent))
    return ModeResult(outcome, artifacts, {"feature_cache": features.cache, **details})


def _probe(inputs: CellInputs, objective: ClassificationObjective, x: dict[str, torch.Tensor],
           y: dict[str, torch.Tensor]) -> tuple[dict[str, Any], torch.Tensor, dict[str, Any], list[dict[str, Any]]]:
    probe = fit_probe(x["train"], y["train"], x["val"], y["val"], objective)
    details = {"probe": {"solver": SOLVER, "weight_decay": probe.weight_decay},
               "selection": f"best validation {objective.select_on} over the probe's weight decays"}
    return probe.val_metrics, probe.logits(x["test"]), details, probe.history


def _knn(inputs: CellInputs, objective: ClassificationObjective, x: dict[str, torch.Tensor],
         y: dict[str, torch.Tensor]) -> tuple[dict[str, Any], torch.Tensor, dict[str, Any], list[dict[str, Any]]]:
    kind, classes, k = inputs.task.kind, inputs.task.num_classes, inputs.regime.knn_k
    # with a label budget below k, k neighbours would outvote the nearest ones with every class: use at most the budget
    used = min(k, len(x["train"]), inputs.regime.label_budget or k)
    logits = {name: shares_as_logits(vote_shares(x["train"], y["train"], x[name], used, kind, classes), kind)
              for name in ("val", "test")}
    details = {"knn": {"k": k, "k_used": used, "weighting": WEIGHTING, "distance": DISTANCE}}
    return evaluate_logits(objective, logits["val"], y["val"]), logits["test"], details, []


MODES.add("linear-probe", Mode(lambda inputs: _run_frozen(inputs, _probe), CLASSIFICATION_KINDS,
                               "a logistic-regression head on frozen features, its L2 penalty chosen on validation"))
MODES.add("knn", Mode(lambda inputs: _run_frozen(inputs, _knn), CLASSIFICATION_KINDS,
                      "k-nearest neighbours of frozen features (cosine), class shares of the votes"))

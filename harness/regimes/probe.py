"""Linear probe: a logistic-regression head on frozen features, its L2 strength chosen on validation.

Each candidate weight decay is a full-batch L-BFGS fit. The problem is convex, so no seed enters:
the strongest penalty starts from a zero head and each weaker one from the previous solution (a
warm-started regularisation path, which converges in far fewer iterations). Features are standardised with the training
split's mean and std. The candidate with the best validation selection metric wins, ties going
to the stronger penalty; test metrics come from the same evaluator fine-tuning uses, so a probe's
metric keys match a fine-tuned run's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.objectives import ClassificationObjective, selection_score

WEIGHT_DECAYS = (1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5)  # strongest first: a tie keeps the stronger penalty
MAX_ITER = 100
SOLVER = (f"L-BFGS (strong Wolfe line search, ≤{MAX_ITER} iterations per penalty), warm-started path from a zero head, "
          "standardised features")


@dataclass
class Probe:
    """A fitted head and the standardisation it expects."""

    head: nn.Linear
    mean: torch.Tensor
    std: torch.Tensor
    weight_decay: float
    val_metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @torch.no_grad()
    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.head((features - self.mean) / self.std)


def _targets(objective: ClassificationObjective, targets: torch.Tensor) -> torch.Tensor:
    return targets.float() if objective.kind.multilabel else targets.long()


def _fit_head(head: nn.Linear, x: torch.Tensor, y: torch.Tensor, objective: ClassificationObjective,
              weight_decay: float) -> float:
    """Minimise the penalised loss from the head's current weights, in place; returns the unpenalised training loss."""
    loss_fn = objective.loss_fn()
    optimizer = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=MAX_ITER, history_size=10,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-5, tolerance_change=1e-7)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(head(x), y) + 0.5 * weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(loss_fn(head(x), y))


def evaluate_logits(objective: ClassificationObjective, logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
    evaluator = objective.evaluator()
    evaluator.update(logits, targets)
    return evaluator.compute()


def fit_probe(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
              objective: ClassificationObjective) -> Probe:
    """Fit one head per weight decay and keep the one the validation split prefers."""
    mean = train_x.mean(dim=0)
    std = train_x.std(dim=0, unbiased=False).clamp_min(1e-6)
    x, y = (train_x - mean) / std, _targets(objective, train_y)
    head = nn.Linear(x.shape[1], objective.num_classes)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    probes, history = [], []
    for weight_decay in WEIGHT_DECAYS:
        train_loss = _fit_head(head, x, y, objective, weight_decay)
        probe = Probe(copy.deepcopy(head), mean, std, weight_decay)
        probe.val_metrics = evaluate_logits(objective, probe.logits(val_x), val_y)
        probes.append(probe)
        history.append({"weight_decay": weight_decay, "train_loss": train_loss,
                        f"val_{objective.select_on}": probe.val_metrics.get(objective.select_on)})
    # max keeps the first of equals: the stronger penalty
    best = max(probes, key=lambda p: selection_score(p.val_metrics, objective.select_on))
    best.history = history
    return best

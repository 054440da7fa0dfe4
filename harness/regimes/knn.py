"""k-nearest-neighbour classification of frozen features: cosine similarity, unweighted votes.

Features are L2-normalised, so the nearest neighbours by cosine similarity are the largest dot
products. A query's class probabilities are the vote shares of its k neighbours (multilabel: the
share of neighbours carrying each label), which makes AUROC computable; the predicted class is the
largest share, ties going to the lower class index. MedMNIST+ uses k = 11 with a plain majority
vote (Euclidean distance); we use cosine similarity, as DINO-style kNN evaluation does. Under a
label budget of N per class, k is capped at N (1 label per class: the nearest neighbour), since
more neighbours than a class has images would always outvote the nearest ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harness.kinds import TaskKind

QUERY_CHUNK = 1024  # queries per similarity matrix, to bound memory
EPS = 1e-6  # vote shares are clipped to [EPS, 1 - EPS] before becoming logits
WEIGHTING = "uniform (vote share of the k nearest)"
DISTANCE = "cosine similarity of L2-normalised features"


def vote_shares(train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor, k: int, kind: TaskKind | str,
                num_classes: int) -> torch.Tensor:
    """(Q, C) share of each query's k nearest training features voting for each class (label)."""
    k = min(k, len(train_x))
    train = F.normalize(train_x.float(), dim=1)
    votes = train_y.float() if TaskKind(kind).multilabel else F.one_hot(train_y.long(), num_classes).float()
    shares = []
    for start in range(0, len(query_x), QUERY_CHUNK):
        query = F.normalize(query_x[start:start + QUERY_CHUNK].float(), dim=1)
        nearest = (query @ train.T).topk(k, dim=1).indices
        shares.append(votes[nearest].mean(dim=1))
    return torch.cat(shares) if shares else torch.zeros(0, num_classes)


def shares_as_logits(shares: torch.Tensor, kind: TaskKind | str) -> torch.Tensor:
    """Logits the shared evaluator reads back as these shares (softmax of log-shares; sigmoid of logit-shares)."""
    clipped = shares.clamp(EPS, 1 - EPS)
    return torch.logit(clipped) if TaskKind(kind).multilabel else clipped.log()

"""Confirm a retrieved candidate pair by aligned correlation: refine the crop box on the indexed
side by coordinate search, then score the blurred and band-passed canvases, each minus the mean
picture of a source (what its pictures share), in two frames (`second_opinion`)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from harness.copies.rule import CopyRule
from harness.copies.views import (
    CANVAS, COARSE, FULL, box_resamplers, canvases, correlation, halved, oriented, resampled, smooth_and_detail,
    standardised,
)

_REFINE_STEPS = (0.06, 0.03, 0.03, 0.015, 0.01)  # box edge moves tried, in fractions of the side
_COARSE_STEPS = 3  # the first steps search coarse canvases; 80 % of all boxes scored were in them
# After refinement step k (the coarse search counts as steps 0-2), a pair more than (correlation, detail)
# margin below the rule's thresholds stops: 1.5x the largest later gain of any confirmed copy among
# benchmarks/copy_eval.py's synthetic pairs (busi, brain_mri). Most verified pairs are look-alikes.
_GIVE_UP = {2: (0.14, 0.19), 3: (0.03, 0.07)}
_MIN_SIDE = 0.35  # a refined box keeps at least this fraction of each side
_MOVES = np.array([[s * (i == e) for e in range(4)] for i in range(4) for s in (-1, 1)]
                  + [[s, s, 0, 0] for s in (-1, 1)] + [[0, 0, s, s] for s in (-1, 1)], dtype=np.float64)


def second_opinion(work_a: np.ndarray, orient: np.ndarray, work_b: np.ndarray, box: np.ndarray,
                    mean_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation and detail of each pair at its refined box, with the mean picture of a's source
    taken in a's frame instead of b's. For a copy the two agree (one picture minus any one mean), but
    a b that is itself turned or cropped relative to its source's mean leaves the shared anatomy in
    both residuals when the mean is taken in b's frame, and look-alikes of a rotated picture pass."""
    shared = oriented(canvases(mean_a, FULL), orient)
    a = standardised(oriented(canvases(work_a, FULL), orient)) - shared
    b = standardised(canvases(work_b, box)) - shared
    (smooth_a, detail_a), (smooth_b, detail_b) = smooth_and_detail(a), smooth_and_detail(b)
    return correlation(smooth_a, smooth_b), correlation(detail_a, detail_b)


def _clipped(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    out[..., [0, 2]] = np.maximum(out[..., [0, 2]], 0.0)
    out[..., [1, 3]] = np.minimum(out[..., [1, 3]], 1.0)
    return out


def _valid(boxes: np.ndarray) -> np.ndarray:
    return ((boxes[..., 1] - boxes[..., 0]) >= _MIN_SIDE) & ((boxes[..., 3] - boxes[..., 2]) >= _MIN_SIDE)


def refine(work_a: np.ndarray, orient: np.ndarray, work_b: np.ndarray, boxes: np.ndarray, mean_picture: np.ndarray,
            rule: CopyRule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Correlation and detail correlation of oriented whole picture a against the best box of b,
    both minus the mean picture of b's source (`mean_picture`, one per pair) in that box, found by
    coordinate search from the retrieved view's box
    (pairs below `min_start_correlation` there are not refined: -1); and that box. The first
    `_COARSE_STEPS` steps search coarse canvases; a pair that falls far enough below the thresholds
    after a step on full canvases (`_GIVE_UP`) keeps the values it has reached."""
    mean_picture = mean_picture[:, None]
    fine = _scorer(standardised(oriented(canvases(work_a, FULL), orient))[:, None], work_b.astype(np.float32)[:, None],
                   mean_picture, CANVAS)
    box = boxes.astype(np.float64).copy()
    corr, detail = fine(slice(None), box, 1)
    too_far = corr < rule.min_start_correlation
    corr[too_far], detail[too_far] = -1.0, -1.0
    live = np.flatnonzero(~too_far)
    if len(live):
        coarse = _scorer(standardised(oriented(canvases(halved(work_a), FULL, COARSE), orient))[:, None],
                         halved(work_b)[:, None], halved(mean_picture), COARSE)
        box[live], corr[live], detail[live] = _coarse_search(coarse, fine, live, box[live], corr[live], detail[live])
        live = _still_close(live, corr, detail, rule, _COARSE_STEPS - 1)
    for k, step in enumerate(_REFINE_STEPS[_COARSE_STEPS:], start=_COARSE_STEPS):
        if not len(live):
            break
        box[live], corr[live], detail[live] = _refine_step(fine, live, box[live], corr[live], detail[live], step)
        live = _still_close(live, corr, detail, rule, k)
    return corr, detail, box


Scorer = Callable[[np.ndarray | slice, np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def _scorer(standard_a: np.ndarray, work_b: np.ndarray, mean_picture: np.ndarray, side: int) -> Scorer:
    """score(keep, boxes, reps): correlation and detail of pair keep[i] under boxes reps·i … reps·i + reps - 1,
    on canvases of `side` pixels (pairs broadcast, not copied)."""
    work = work_b.shape[-1]

    def score(keep: np.ndarray | slice, candidate_boxes: np.ndarray, reps: int) -> tuple[np.ndarray, np.ndarray]:
        resamplers = box_resamplers(candidate_boxes, len(candidate_boxes), side, work)
        rows, cols = (m.reshape(-1, reps, side, work) for m in resamplers)
        shared = resampled(mean_picture[keep], rows, cols)
        smooth_a, detail_a = smooth_and_detail((standard_a[keep] - shared).reshape(-1, side, side))
        b = resampled(work_b[keep], rows, cols).reshape(-1, side, side)
        smooth_b, detail_b = smooth_and_detail(standardised(b) - shared.reshape(b.shape))
        return correlation(smooth_a, smooth_b), correlation(detail_a, detail_b)

    return score


def _coarse_search(coarse: Scorer, fine: Scorer, live: np.ndarray, box: np.ndarray, corr: np.ndarray,
                   detail: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first `_COARSE_STEPS` steps on coarse canvases (a box costs ~8x less there), then the full
    scores at the box found; a pair whose full scores got worse keeps its starting box."""
    found = box.copy()
    c, d = coarse(live, found, 1)
    for step in _REFINE_STEPS[:_COARSE_STEPS]:
        found, c, d = _refine_step(coarse, live, found, c, d, step)
    moved_c, moved_d = fine(live, found, 1)
    better = moved_c + moved_d > corr + detail
    return (np.where(better[:, None], found, box), np.where(better, moved_c, corr), np.where(better, moved_d, detail))


def _still_close(live: np.ndarray, corr: np.ndarray, detail: np.ndarray, rule: CopyRule, step: int) -> np.ndarray:
    """The live pairs not too far below the thresholds after refinement step `step` to gain them back."""
    if step not in _GIVE_UP:
        return live
    far_c, far_d = _GIVE_UP[step]
    return live[(corr[live] >= rule.min_correlation - far_c) & (detail[live] >= rule.min_detail_correlation - far_d)]


def _refine_step(score: Scorer, live: np.ndarray, box: np.ndarray, corr: np.ndarray, detail: np.ndarray,
                 step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One coordinate-search step of the `live` pairs' boxes: every edge takes its own best single
    move at once; that or the best single move, whichever gains more, if it gains."""
    n = np.arange(len(box))
    tried = _clipped(box[:, None, :] + step * _MOVES[None, :, :])
    c, d = score(live, tried.reshape(-1, 4), len(_MOVES))
    gain = np.where(_valid(tried), (c + d).reshape(len(box), -1), -np.inf) - (corr + detail)[:, None]
    edge_gain = gain[:, :8].reshape(len(box), 4, 2)
    pick = edge_gain.argmax(axis=2)
    delta = np.where(edge_gain.max(axis=2) > 0, step * np.where(pick == 0, -1.0, 1.0), 0.0)
    joint = _clipped(box + delta)
    jc, jd = score(live, joint, 1)
    joint_gain = np.where(_valid(joint), jc + jd - corr - detail, -np.inf)
    best = gain.argmax(axis=1)
    single_gain = gain[n, best]
    use_joint = (joint_gain >= single_gain) & (joint_gain > 0)
    use_single = ~use_joint & (single_gain > 0)
    box = np.where(use_joint[:, None], joint, np.where(use_single[:, None], tried[n, best], box))
    corr = np.where(use_joint, jc, np.where(use_single, c.reshape(len(n), -1)[n, best], corr))
    detail = np.where(use_joint, jd, np.where(use_single, d.reshape(len(n), -1)[n, best], detail))
    return box, corr, detail

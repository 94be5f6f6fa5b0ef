"""Retrieval metrics as TVR reports them: VR R@k, SVMR R@k at temporal IoU thresholds (fractions, 0-1)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

VR_KS = (1, 5, 10)
SVMR_KS = (1, 5)
IOU_THRESHOLDS = (0.5, 0.7)


def temporal_iou(pred: Tensor, gold: Tensor) -> Tensor:
    """IoU of spans `pred` [N, 2] with `gold` [2] or [N, 2], (start, end) in seconds.

    As TVR's official evaluator (standalone_eval/eval.py, compute_temporal_iou_batch): the intersection over
    the hull of the two spans (max end - min start), which equals the union when they overlap; 0 when the hull
    is empty; in float32, as there, so threshold comparisons agree at the boundary.
    """
    pred = pred.float()
    gold = gold.float().expand_as(pred)
    inter = (torch.minimum(pred[:, 1], gold[:, 1]) - torch.maximum(pred[:, 0], gold[:, 0])).clamp_min(0.0)
    hull = torch.maximum(pred[:, 1], gold[:, 1]) - torch.minimum(pred[:, 0], gold[:, 0])
    return torch.where(hull != 0, inter / torch.where(hull != 0, hull, 1.0), torch.zeros_like(inter))


def video_ranks(scores: Tensor, gold: Tensor) -> Tensor:
    """0-based rank of each query's gold video: scores [Q, V], gold [Q] video index.

    Ties count against the gold video, so a model that scores every video alike does not look perfect.
    """
    gold_scores = scores.gather(1, gold[:, None])  # [Q, 1]
    return (scores >= gold_scores).sum(dim=1) - 1


def video_recall(scores: Tensor, gold: Tensor, ks: Sequence[int] = VR_KS) -> dict[str, float]:
    """VR R@k: the share of queries whose gold video ranks in the top k."""
    ranks = video_ranks(scores, gold)
    return {f"vr_r{k}": float((ranks < k).double().mean()) if len(ranks) else 0.0 for k in ks}


def moment_recall(
    predictions: Sequence[Tensor],
    gold: Tensor,
    ks: Sequence[int] = SVMR_KS,
    thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """SVMR R@k at IoU t: the share of queries with a span among their top k predictions at IoU >= t.

    predictions[q] is [n_q, 2] (start, end) seconds, best first, in the gold video; gold [Q, 2] seconds.
    """
    hits = {(k, t): 0 for k in ks for t in thresholds}
    for pred, span in zip(predictions, gold, strict=True):
        if len(pred) == 0:
            continue
        iou = temporal_iou(pred, span)
        for k in ks:
            for t in thresholds:
                hits[(k, t)] += bool((iou[:k] >= t).any())
    n = max(len(predictions), 1)
    return {f"svmr_r{k}_iou{t}": hits[(k, t)] / n for k in ks for t in thresholds}

"""Training losses: multi-positive InfoNCE (CBT-style NCE), soft-target tag cross-entropy, MFM masking.

All functions are pure tensor code; which scores and which positives they see is the trainer's business.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce(scores: Tensor, positives: Tensor, temperature: float, valid: Tensor | None = None) -> Tensor:
    """Multi-positive InfoNCE over rows of `scores` [Q, K].

    Every positive of a row is contrasted with all that row's negatives (valid, non-positive columns):
    loss(q, p) = -log(exp(s_qp / t) / (exp(s_qp / t) + sum_n exp(s_qn / t))), averaged over the row's
    positives, then over rows with at least one positive. Unlike the sum-of-positives form, this pushes
    every positive above the negatives, not just the best one.
    """
    valid = torch.ones_like(positives) if valid is None else valid
    positives = positives & valid
    logits = scores / temperature  # [Q, K]
    negatives = valid & ~positives
    neg_lse = torch.logsumexp(logits.masked_fill(~negatives, float("-inf")), dim=1, keepdim=True)  # [Q, 1]
    per_pair = torch.logaddexp(logits, neg_lse.expand_as(logits)) - logits  # [Q, K]
    per_pair = per_pair.masked_fill(~positives, 0.0)
    n_pos = positives.sum(dim=1)
    rows = n_pos > 0
    if not bool(rows.any()):
        return scores.sum() * 0.0
    return (per_pair.sum(dim=1)[rows] / n_pos[rows]).mean()


def symmetric_nce(
    scores: Tensor,
    positives: Tensor,
    temperature: float,
    valid: Tensor | None = None,
    extra_rows: Tensor | None = None,
) -> Tensor:
    """Mean of InfoNCE query→candidate over `scores` [Q, K] and candidate→query over its transpose.

    `extra_rows` [R, K] are scores of sampled negative queries: they only widen the candidate→query side.
    """
    forward = info_nce(scores, positives, temperature, valid)
    back_scores, back_pos = scores, positives
    back_valid = torch.ones_like(positives) if valid is None else valid
    if extra_rows is not None:
        back_scores = torch.cat([scores, extra_rows], dim=0)
        back_pos = torch.cat([positives, torch.zeros_like(extra_rows, dtype=torch.bool)], dim=0)
        back_valid = torch.cat([back_valid, torch.ones_like(extra_rows, dtype=torch.bool)], dim=0)
    backward = info_nce(back_scores.t(), back_pos.t(), temperature, back_valid.t())
    return (forward + backward) / 2


def soft_cross_entropy(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Cross-entropy of `logits` [..., K] with soft `targets` [..., K], averaged over `mask` [...]."""
    per_item = -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    weight = mask.to(per_item.dtype)
    return (per_item * weight).sum() / weight.sum().clamp_min(1.0)


def tag_losses(
    unary: Tensor, pair: Tensor, unary_targets: Tensor, pair_targets: Tensor, clip_mask: Tensor
) -> tuple[Tensor, Tensor]:
    """First-order (O/B/E per clip) and second-order (adjacent tag pair) soft-target cross-entropies.

    unary [B, C, 3], pair [B, C-1, 3, 3], targets alike, clip_mask [B, C] bool.
    """
    first = soft_cross_entropy(unary, unary_targets, clip_mask)
    pair_mask = clip_mask[:, :-1] & clip_mask[:, 1:]  # [B, C-1]
    second = soft_cross_entropy(pair.flatten(-2), pair_targets.flatten(-2), pair_mask)
    return first, second


def mfm_positions(clip_mask: Tensor, ratio: float, generator: torch.Generator) -> Tensor:
    """Clips to mask for MFM [B, C] bool: each valid clip with probability `ratio`, at least one per video."""
    draw = torch.rand(clip_mask.shape, generator=generator, device=clip_mask.device)
    chosen = (draw < ratio) & clip_mask
    # Guarantee one masked clip per video that has any: the valid clip with the smallest draw.
    forced = draw.masked_fill(~clip_mask, 2.0).argmin(dim=1)  # [B]
    has_clips = clip_mask.any(dim=1)
    chosen[has_clips, forced[has_clips]] = True
    return chosen


def mfm_nce(predicted: Tensor, targets: Tensor, target_index: Tensor, temperature: float) -> Tensor:
    """MFM-NCE: each masked position's output (`predicted` [M, D]) must find its target in `targets` [N, D].

    `target_index` [M] gives the row of `targets` that belongs to each masked position.
    """
    scores = predicted @ targets.t()  # [M, N]
    positives = F.one_hot(target_index, targets.shape[0]).bool()
    return info_nce(scores, positives, temperature)

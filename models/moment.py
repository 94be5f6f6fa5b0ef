"""Hammer-style moment head: tag each clip Other/Begin/End for a query, with a pairwise term; decode spans.

Tags are (O, B, E) = (0, 1, 2). For a gold span [s, e] (clips, e inclusive) clip s is B, clip e is E and every
other clip is O (inside the span too); a single-clip moment (s == e) gets the soft target 0.5 B + 0.5 E. The
pair target of clips (i, i+1) is the outer product of their unary targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ModelConfig

OTHER, BEGIN, END = 0, 1, 2
TAGS = ("O", "B", "E")


@dataclass(frozen=True)
class Span:
    """A decoded moment: clips start_clip..end_clip (inclusive) and a probability-like score in (0, 1]."""

    start_clip: int
    end_clip: int
    score: float


class MomentHead(nn.Module):
    """(query [B,D], clips [B,C,D], mask [B,C]) -> (unary logits [B,C,3], pair logits [B,C-1,3,3]).

    Per clip the features [c, q*c, c-q] go through an MLP and two residual 1-D convolutions (kernel 3) for
    temporal context; padding clips are zeroed before every convolution so they never reach real clips. The
    pair logits over (tag_i, tag_i+1) come from the two neighbouring clip features (zeros without
    `use_pair_term`).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        h = config.hidden
        self.use_pair_term = config.use_pair_term
        self.inp = nn.Sequential(nn.Linear(3 * config.dim, h), nn.GELU())
        self.convs = nn.ModuleList(nn.Conv1d(h, h, kernel_size=3, padding=1) for _ in range(2))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(2))
        self.unary = nn.Linear(h, 3)
        self.pair = nn.Sequential(nn.Linear(2 * h, h), nn.GELU(), nn.Linear(h, 9))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, query: Tensor, clips: Tensor, clip_mask: Tensor) -> tuple[Tensor, Tensor]:
        b, c, _ = clips.shape
        q = query[:, None, :].expand_as(clips)  # [B,D] -> [B,C,D]
        keep = clip_mask[..., None].to(clips.dtype)  # [B,C,1]
        x = self.inp(torch.cat([clips, q * clips, clips - q], dim=-1)) * keep  # [B,C,H]
        for conv, norm in zip(self.convs, self.norms, strict=True):
            y = conv(x.transpose(1, 2)).transpose(1, 2)  # [B,C,H] -> [B,H,C] -> [B,C,H]
            x = (x + self.drop(F.gelu(norm(y)))) * keep
        unary = self.unary(x)  # [B,C,3]
        if not self.use_pair_term or c < 2:
            return unary, x.new_zeros(b, max(c - 1, 0), 3, 3)
        pair = self.pair(torch.cat([x[:, :-1], x[:, 1:]], dim=-1))  # [B,C-1,9]
        return unary, pair.view(b, c - 1, 3, 3)  # [B,C-1,9] -> [B,C-1,3,3]


def tag_targets(spans: Sequence[tuple[int, int]], n_clips: int) -> tuple[Tensor, Tensor]:
    """Gold spans (start, end inclusive; clipped to the video) -> soft targets unary [C,3], pair [C-1,3,3]."""
    unary = torch.zeros(n_clips, 3)
    unary[:, OTHER] = 1.0
    for start, end in spans:
        if start > end:
            raise ValueError(f"span ({start}, {end}) ends before it starts")
        s, e = max(0, start), min(end, n_clips - 1)
        if s > e:
            continue
        if s == e:
            unary[s] = torch.tensor([0.0, 0.5, 0.5])
        else:
            unary[s] = torch.tensor([0.0, 1.0, 0.0])
            unary[e] = torch.tensor([0.0, 0.0, 1.0])
    pair = unary[:-1, :, None] * unary[1:, None, :]  # [C-1,3,1] * [C-1,1,3] -> [C-1,3,3]
    return unary, pair


def decode_moments(
    unary: Tensor,
    pair: Tensor | None = None,
    top_n: int = 10,
    min_clips: int = 1,
    max_clips: int | None = None,
    nms_iou: float = 0.5,
) -> list[Span]:
    """Best spans of one video from unary logits [C,3] and pair logits [C-1,3,3] (or None), after NMS.

    Log-probabilities: unary = log_softmax over (O,B,E); pair = log_softmax over the 9 joint tags of (i,i+1).
    Terms of a span (s, e), s < e: log p_B(s), log p_E(e), and with pair logits log P(s-1,s)[O,B] if s > 0
    and log P(e,e+1)[E,O] if e < C-1. A single-clip span is scored against the soft target it was trained on
    (0.5 B + 0.5 E): its two unary terms sum to log(4 p_B(s) p_E(s)) and its boundary terms are
    log(P[O,B] + P[O,E]) and log(P[B,O] + P[E,O]); so a perfect prediction scores 1 for spans of any length.
    score = exp(mean of the terms): a geometric mean of probabilities, in (0, 1].
    All spans with min_clips <= length <= max_clips are scored at once as a [C, lengths] band
    (O(C * max_clips); set max_clips for long videos), then greedy temporal NMS (IoU over clip spans) keeps
    the top_n.
    """
    c = unary.shape[0]
    max_len = c if max_clips is None else min(max_clips, c)
    if c == 0 or top_n < 1 or min_clips > max_len:
        return []
    device = unary.device
    logp = unary.detach().float().log_softmax(dim=-1)  # [C,3]
    lengths = torch.arange(max(min_clips, 1), max_len + 1, device=device)  # [K]
    start = torch.arange(c, device=device)[:, None]  # [C,1]
    end = (start + lengths - 1).clamp(max=c - 1)  # [C,K]
    single = (lengths == 1)[None, :]  # [1,K]
    total = logp[start, BEGIN] + logp[end, END] + single * (2 * math.log(2.0))  # [C,K]
    n_terms = torch.full_like(total, 2.0)
    if pair is not None and c > 1:
        lp = (
            pair.detach().float().reshape(c - 1, 9).log_softmax(dim=-1).view(c - 1, 3, 3)
        )  # [C-1,9] -> [C-1,3,3]
        left_multi, right_multi = lp[:, OTHER, BEGIN], lp[:, END, OTHER]  # [C-1]
        left_single = torch.logaddexp(lp[:, OTHER, BEGIN], lp[:, OTHER, END])
        right_single = torch.logaddexp(lp[:, BEGIN, OTHER], lp[:, END, OTHER])
        # boundary terms: left of clip s uses pair row s-1, right of clip e uses row e; none at the video ends
        left = torch.where(single, F.pad(left_single, (1, 0))[start], F.pad(left_multi, (1, 0))[start])
        right = torch.where(single, F.pad(right_single, (0, 1))[end], F.pad(right_multi, (0, 1))[end])
        total = total + left + right
        n_terms = n_terms + (start > 0).float() + (end < c - 1).float()
    scores = (total / n_terms).masked_fill(start + lengths - 1 >= c, float("-inf"))  # [C,K]
    span_len = lengths[None, :].float()  # [1,K]
    kept: list[Span] = []
    for _ in range(top_n):
        best = int(scores.argmax())
        s, k = divmod(best, scores.shape[1])
        best_score = float(scores[s, k])
        if best_score == float("-inf"):
            break
        e = s + int(lengths[k]) - 1
        kept.append(Span(s, e, math.exp(best_score)))
        inter = (torch.clamp(end, max=e) - torch.clamp(start, min=s) + 1).clamp(min=0).float()  # [C,K]
        iou = inter / (span_len + (e - s + 1) - inter)
        scores = scores.masked_fill(iou > nms_iou, float("-inf"))
        scores[s, k] = float("-inf")
    return kept


def spans_to_seconds(span: Span, clip_seconds: float, duration: float) -> tuple[float, float]:
    """Clip span -> (start, end) seconds; clip i covers [i, i+1) * clip_seconds, cut at `duration`."""
    start = min(span.start_clip * clip_seconds, duration)
    return start, min((span.end_clip + 1) * clip_seconds, duration)

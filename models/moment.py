"""Hammer-style moment head: tag each clip Other/Begin/End for a query, with a pairwise term; decode spans.

Tags are (O, B, E) = (0, 1, 2). For a gold span [s, e] (clips, e inclusive) clip s is B, clip e is E and every
other clip is O (inside the span too); a single-clip moment (s == e) gets the soft target 0.5 B + 0.5 E. The
pair target of clips (i, i+1) is the outer product of their unary targets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ModelConfig
from models.tvr_metrics import temporal_iou

OTHER, BEGIN, END = 0, 1, 2
TAGS = ("O", "B", "E")
SpanScorer = Callable[[int, int], float]  # clips start..end (inclusive) of one video -> its moment score


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
        h = config.head_hidden or config.hidden
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

    def score_one_query(self, query: Tensor, clips: Tensor, clip_mask: Tensor) -> tuple[Tensor, Tensor]:
        """`forward` for ONE query [D] against B videos (serving, eval mode): the same function, less work.

        The first layer W [c, q*c, c-q] + b = (W1 + W3 + W2 diag(q)) c + (b - W3 q) is folded once per query,
        so the [B,C,3D] concatenation is never built and that layer costs a third. Equal to `forward` up to
        float rounding (~1e-6); dropout is ignored (call it in eval mode).
        """
        d = clips.shape[-1]
        linear = self.inp[0]
        assert isinstance(linear, nn.Linear)
        w1, w2, w3 = linear.weight[:, :d], linear.weight[:, d : 2 * d], linear.weight[:, 2 * d :]  # [H,D]
        weight = w1 + w3 + w2 * query[None, :]  # [H,D]
        bias = linear.bias - w3 @ query  # [H]
        b, c, _ = clips.shape
        keep = clip_mask[..., None].to(clips.dtype)  # [B,C,1]
        x = self.inp[1](F.linear(clips, weight, bias)) * keep  # [B,C,H]
        for conv, norm in zip(self.convs, self.norms, strict=True):
            y = conv(x.transpose(1, 2)).transpose(1, 2)  # [B,C,H] -> [B,H,C] -> [B,C,H]
            x = (x + F.gelu(norm(y))) * keep
        unary = self.unary(x)  # [B,C,3]
        if not self.use_pair_term or c < 2:
            return unary, x.new_zeros(b, max(c - 1, 0), 3, 3)
        pair = self.pair(torch.cat([x[:, :-1], x[:, 1:]], dim=-1))  # [B,C-1,9]
        return unary, pair.view(b, c - 1, 3, 3)

    def score_videos(self, query: Tensor, clips: Tensor, lengths: Sequence[int]) -> tuple[Tensor, Tensor]:
        """`score_one_query` for K videos of different lengths, doing work only for their real clips.

        clips [N,D] holds the videos end to end (N = sum of lengths). They run as one sequence with one zero
        clip between neighbours: a kernel-3 convolution then sees at a video's edge exactly the zero it sees
        at a padded video's end, so the logits equal the padded batch's (to float rounding) at a cost
        proportional to N instead of K x the longest video. Returns padded unary [K,C,3] and pair
        [K,C-1,3,3], C = max(lengths); what lies beyond a video's length is not meaningful.
        """
        n = torch.as_tensor(list(lengths), dtype=torch.long, device=clips.device)  # [K]
        k, width = len(n), int(n.max())
        position = torch.arange(len(clips), device=clips.device) + torch.repeat_interleave(
            torch.arange(k, device=clips.device), n
        )  # row i of video v goes to i + v: one gap after each video
        total = len(clips) + k
        packed = clips.new_zeros(1, total, clips.shape[1])  # [1,T,D]
        packed[0, position] = clips
        mask = torch.zeros(1, total, dtype=torch.bool, device=clips.device)
        mask[0, position] = True
        unary, pair = self.score_one_query(query, packed, mask)  # [1,T,3], [1,T-1,3,3]
        start = F.pad(torch.cumsum(n + 1, dim=0)[:-1], (1, 0))  # [K] first position of each video
        index = start[:, None] + torch.arange(width, device=clips.device)  # [K,C]
        return unary[0, index.clamp(max=total - 1)], pair[0, index[:, : width - 1].clamp(max=total - 2)]


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


def span_scorer(unary: Tensor, pair: Tensor | None) -> SpanScorer:
    """The score `decode_moments` gives clips start..end (inclusive) of one video, as a function of the span,
    from unary logits [C,3] and pair logits [C-1,3,3] (or None): exp of the mean of the span's terms, in
    (0, 1]. The log-probabilities are computed once, so scoring many spans of a video costs little each."""
    c = int(unary.shape[0])
    logp = unary.detach().float().log_softmax(dim=-1).cpu().double().numpy()  # [C,3]
    lp = None
    if pair is not None and c > 1:
        lp = (
            pair.detach()
            .float()
            .reshape(c - 1, 9)
            .log_softmax(dim=-1)
            .view(c - 1, 3, 3)
            .cpu()
            .double()
            .numpy()
        )

    def score(start: int, end: int) -> float:
        if not 0 <= start <= end < c:
            raise ValueError(f"span ({start}, {end}) is not inside a video of {c} clips")
        single = start == end
        total = logp[start, BEGIN] + logp[end, END] + (2 * math.log(2.0) if single else 0.0)
        n_terms = 2
        if lp is not None:
            if start > 0:
                row = lp[start - 1]
                total += np.logaddexp(row[OTHER, BEGIN], row[OTHER, END]) if single else row[OTHER, BEGIN]
                n_terms += 1
            if end < c - 1:
                row = lp[end]
                total += np.logaddexp(row[BEGIN, OTHER], row[END, OTHER]) if single else row[END, OTHER]
                n_terms += 1
        return math.exp(float(total) / n_terms)

    return score


def decode_moments_batch(
    unary: Tensor,
    pair: Tensor | None,
    lengths: Sequence[int],
    top_n: int = 10,
    min_clips: int = 1,
    max_clips: int | None = None,
    nms_iou: float = 0.5,
) -> list[list[Span]]:
    """`decode_moments` of K videos at once: unary [K,C,3], pair [K,C-1,3,3] (or None), padded to C clips.

    Row k holds a video of `lengths[k]` clips (what lies beyond is padding and never read into a score).
    Returns, per video, what `decode_moments(unary[k, :n], pair[k, :n-1], top_n, min_clips,
    min(max_clips, n), nms_iou)` returns: the same spans in the same order; scores agree to float rounding
    (the terms of a span are summed in another order: (B(s) + left(s)) + (E(e) + right(e))).

    Scoring is one [K, C, lengths] band (a broadcast add over a strided view, no Python loop per video).
    NMS is the same greedy one, run on each video's best `pool` candidates (vectorised over the videos);
    a video whose pool runs out before it has top_n spans is redone with a 4x larger pool, so the result is
    exactly the greedy NMS over all spans (ties broken by the lower (start, length) as `argmax` does).
    """
    k, c = int(unary.shape[0]), int(unary.shape[1])
    if k == 0:
        return []
    n = torch.as_tensor(list(lengths), dtype=torch.long)  # [K]
    lo = max(min_clips, 1)
    hi = min(c, int(n.max()), c if max_clips is None else max_clips)
    if c == 0 or top_n < 1 or lo > hi:
        return [[] for _ in range(k)]
    width = hi - lo + 1  # span lengths lo..hi
    logp = unary.detach().float().log_softmax(dim=-1)  # [K,C,3]
    pos = torch.arange(c)
    inside = pos[None, :] < n[:, None]  # [K,C] real clips
    has_left = (pos > 0)[None, :].expand(k, c)  # [K,C] a clip s > 0 has a left boundary term
    has_right = pos[None, :] < (n - 1)[:, None]  # [K,C] a clip e < n-1 has a right boundary term
    zeros = logp.new_zeros(k, 1)
    begin, end = logp[..., BEGIN], logp[..., END]  # [K,C]
    single = begin + end + 2 * math.log(2.0)  # [K,C]
    if pair is not None and c > 1:
        lp = pair.detach().float()[:, : c - 1].reshape(k, c - 1, 9).log_softmax(dim=-1).view(k, c - 1, 3, 3)
        left_multi = torch.cat([zeros, lp[:, :, OTHER, BEGIN]], dim=1)  # [K,C] row s-1 of clip s
        right_multi = torch.cat([lp[:, :, END, OTHER], zeros], dim=1)  # [K,C] row e of clip e
        left_single = torch.cat([zeros, torch.logaddexp(lp[:, :, OTHER, BEGIN], lp[:, :, OTHER, END])], dim=1)
        right_single = torch.cat(
            [torch.logaddexp(lp[:, :, BEGIN, OTHER], lp[:, :, END, OTHER]), zeros], dim=1
        )
        right_multi = torch.where(has_right, right_multi, 0.0)  # no term at a video's last clip
        right_single = torch.where(has_right, right_single, 0.0)
        single = single + left_single + right_single
        n_left, n_right = has_left.float(), has_right.float()
    else:
        left_multi = right_multi = logp.new_zeros(k, c)
        n_left = n_right = logp.new_zeros(k, c)
    neg_inf = float("-inf")
    head = begin + left_multi  # [K,C] terms of a span start s
    tail = torch.where(inside, end + right_multi, neg_inf)  # [K,C] terms of a span end e; -inf past the video
    # end e = s + lo - 1 + j for j < width: windows of a padded tail, as a strided view [K,C,width]
    tail_pad = torch.cat([tail, tail.new_full((k, hi), neg_inf)], dim=1)  # [K,C+hi]
    ends = tail_pad.unfold(1, width, 1)[:, lo - 1 : lo - 1 + c]  # [K,C,width]
    right_pad = torch.cat([n_right, n_right.new_zeros(k, hi)], dim=1)
    n_terms = (2.0 + n_left)[:, :, None] + right_pad.unfold(1, width, 1)[:, lo - 1 : lo - 1 + c]
    scores = (head[:, :, None] + ends).div_(n_terms)  # [K,C,width]
    if lo == 1:  # the single-clip column, scored against its soft target
        scores[:, :, 0] = torch.where(inside, single / (2.0 + n_left + n_right), neg_inf)
    flat = scores.reshape(k, c * width)
    n_np = n.numpy()
    top = np.minimum(n_np, hi)
    valid = np.where(top >= lo, (top - lo + 1) * (n_np + 1) - (top * (top + 1) - lo * (lo - 1)) // 2, 0)
    out: list[list[Span]] = [[] for _ in range(k)]
    rows = np.arange(k)
    pool = min(c * width, max(8 * top_n, 64))
    while len(rows):
        sub = flat if len(rows) == k else flat[torch.from_numpy(rows)]
        values, index = torch.topk(sub, pool, dim=1)  # [R,pool], sorted by value
        redo = _nms_pool(
            values.numpy(), index.numpy(), width, lo, top_n, nms_iou, valid[rows] > pool, out, rows
        )
        rows = rows[redo]
        if pool == c * width:
            break
        pool = min(c * width, 4 * pool)
    return out


def _nms_pool(
    values: np.ndarray,
    index: np.ndarray,
    width: int,
    lo: int,
    top_n: int,
    nms_iou: float,
    more: np.ndarray,
    out: list[list[Span]],
    rows: np.ndarray,
) -> np.ndarray:
    """Greedy NMS over each row's candidate pool; fills out[rows[r]]; True where the pool was too small.

    values/index [R,P]: candidate scores and flat band indices (start * width + length - lo), best first.
    more [R]: the row has valid spans outside its pool.
    """
    r = len(values)
    order = np.lexsort((index, -values), axis=-1)  # equal scores: lower flat index first, as argmax
    score = np.take_along_axis(values, order, axis=1).astype(np.float32)
    flat = np.take_along_axis(index, order, axis=1)
    start = flat // width
    length = flat % width + lo
    stop = start + length - 1
    length_f = length.astype(np.float32)
    boundary = score[:, -1].copy()  # the lowest pooled score: anything outside may tie or exceed it
    threshold = np.float32(nms_iou)
    picks_s, picks_e, picks_v = [], [], []
    redo = np.zeros(r, dtype=bool)
    live = np.ones(r, dtype=bool)
    at = np.arange(r)
    for _ in range(top_n):
        best = score.argmax(axis=1)
        best_score = score[at, best]
        live &= best_score > -np.inf
        # the pool cannot decide this pick: it is empty, or the pick ties the pool's lowest score
        redo |= more & ((~live) | (best_score <= boundary))
        live &= ~redo
        if not live.any():
            break
        s, e = start[at, best], stop[at, best]
        picks_s.append(np.where(live, s, -1))
        picks_e.append(e)
        picks_v.append(best_score)
        inter = np.clip(np.minimum(stop, e[:, None]) - np.maximum(start, s[:, None]) + 1, 0, None)
        inter_f = inter.astype(np.float32)
        iou = inter_f / (length_f + (e - s + 1)[:, None].astype(np.float32) - inter_f)
        score[(iou > threshold) & live[:, None]] = -np.inf
        score[at[live], best[live]] = -np.inf
    for row in np.flatnonzero(~redo):
        spans = out[int(rows[row])]
        for s_col, e_col, v_col in zip(picks_s, picks_e, picks_v, strict=True):
            if s_col[row] < 0:
                break
            spans.append(Span(int(s_col[row]), int(e_col[row]), math.exp(float(v_col[row]))))
    return redo


# Levels for `similarity_moments`: a fraction of the way from the video's best clip down to its median clip.
LEVELS = (0.1, 0.25, 0.5)
SIMILARITY_TEMPERATURE = 0.1


def similarity_moments(
    sims: np.ndarray,
    top_n: int = 10,
    min_clips: int = 1,
    max_clips: int | None = None,
    nms_iou: float = 0.5,
) -> list[Span]:
    """Training-free moments of one video from its per-clip query similarities [C] (for untrained models).

    For each level in `LEVELS` (best - f * (best - median)), every maximal run of clips at or above it is a
    candidate; a run's score is exp((mean similarity of the run - best) / SIMILARITY_TEMPERATURE), in (0, 1],
    so the run around the best clip scores near 1 and a run that also takes in weaker clips scores less.
    Candidates outside [min_clips, max_clips] are dropped, then greedy NMS (IoU over clip spans) keeps top_n.
    """
    c = len(sims)
    if c == 0 or top_n < 1:
        return []
    sims = np.asarray(sims, dtype=np.float64)
    best, median = float(sims.max()), float(np.median(sims))
    longest = c if max_clips is None else max_clips
    candidates: dict[tuple[int, int], float] = {}
    for fraction in LEVELS:
        above = np.concatenate([[False], sims >= best - fraction * (best - median), [False]])
        edges = np.flatnonzero(np.diff(above.astype(np.int8)))  # run starts, then ends (exclusive), in turn
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if min_clips <= stop - start <= longest:
                mean = float(sims[start:stop].mean())
                candidates[(int(start), int(stop) - 1)] = math.exp((mean - best) / SIMILARITY_TEMPERATURE)
    kept: list[Span] = []
    for (start, end), score in sorted(candidates.items(), key=lambda item: (-item[1], item[0])):
        if len(kept) == top_n:
            break
        taken = np.array([[span.start_clip, span.end_clip + 1] for span in kept], dtype=np.float32)
        if not kept or temporal_iou(taken, np.array([start, end + 1.0])).max() <= nms_iou:
            kept.append(Span(start, end, score))
    return kept


def similarity_span_scorer(sims: np.ndarray) -> SpanScorer:
    """The score `similarity_moments` gives clips start..end (inclusive) of per-clip similarities [C], as a
    function of the span."""
    sims = np.asarray(sims, dtype=np.float64)
    top = float(sims.max())
    return lambda start, end: math.exp((float(sims[start : end + 1].mean()) - top) / SIMILARITY_TEMPERATURE)


def spans_to_seconds(span: Span, clip_seconds: float, duration: float) -> tuple[float, float]:
    """Clip span -> (start, end) seconds; clip i covers [i, i+1) * clip_seconds, cut at `duration`."""
    start = min(span.start_clip * clip_seconds, duration)
    return start, min((span.end_clip + 1) * clip_seconds, duration)

"""Moment head, tag targets, and the B/E/O decoder on hand-made tag sequences."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch

from models.moment import (
    BEGIN,
    END,
    OTHER,
    MomentHead,
    Span,
    decode_moments,
    decode_moments_batch,
    similarity_moments,
    similarity_span_scorer,
    span_scorer,
    spans_to_seconds,
    tag_targets,
)
from models.registry import get_config

torch.set_num_threads(1)


def logits(rows: list[tuple[float, float, float]]) -> torch.Tensor:
    """Unary logits whose softmax is the given (O, B, E) probabilities."""
    return torch.tensor(rows).clamp(min=1e-9).log()


def tags(n: int, **at: tuple[float, float, float]) -> torch.Tensor:
    """n clips, O everywhere except the clips named c<i>=(pO, pB, pE)."""
    rows = [(0.98, 0.01, 0.01)] * n
    for key, probs in at.items():
        rows[int(key[1:])] = probs
    return logits(rows)


def test_tag_targets_hard_and_soft() -> None:
    unary, pair = tag_targets([(2, 5), (8, 8)], 10)
    assert unary[2].tolist() == [0, 1, 0] and unary[5].tolist() == [0, 0, 1]
    assert unary[3].tolist() == [1, 0, 0] and unary[8].tolist() == [0, 0.5, 0.5]
    torch.testing.assert_close(unary.sum(-1), torch.ones(10))
    assert pair.shape == (9, 3, 3)
    torch.testing.assert_close(pair[1], torch.outer(unary[1], unary[2]))
    assert pair[7, OTHER, BEGIN] == 0.5 and pair[8, END, OTHER] == 0.5
    clipped, _ = tag_targets([(7, 20)], 10)
    assert clipped[7, BEGIN] == 1 and clipped[9, END] == 1
    with pytest.raises(ValueError):
        tag_targets([(3, 2)], 5)


def test_moment_head_shapes_padding_and_pair_switch() -> None:
    torch.manual_seed(0)
    config = get_config("kairos-tiny")
    head = MomentHead(config).eval()
    query, clips = torch.randn(1, 32), torch.randn(1, 6, 32)
    unary, pair = head(query, clips, torch.ones(1, 6, dtype=torch.bool))
    assert unary.shape == (1, 6, 3) and pair.shape == (1, 5, 3, 3)
    padded_clips = torch.cat([clips, torch.randn(1, 4, 32)], dim=1)
    mask = torch.tensor([[True] * 6 + [False] * 4])
    padded_unary, padded_pair = head(query, padded_clips, mask)
    torch.testing.assert_close(padded_unary[:, :6], unary, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(padded_pair[:, :5], pair, atol=1e-5, rtol=1e-4)
    no_pair = MomentHead(dataclasses.replace(config, use_pair_term=False))
    assert not no_pair(query, clips, torch.ones(1, 6, dtype=torch.bool))[1].any()


def test_decode_clear_span_scores_one() -> None:
    spans = decode_moments(tags(10, c2=(0, 1, 0), c5=(0, 0, 1)), top_n=3)
    assert (spans[0].start_clip, spans[0].end_clip) == (2, 5)
    assert spans[0].score == pytest.approx(1.0, abs=1e-6)
    assert all(0 < s.score <= 1 for s in spans)
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)


def test_single_clip_moment_competes_fairly() -> None:
    # a perfect single-clip prediction (its soft target 0.5 B + 0.5 E) scores like a perfect long span
    unary = tags(12, c1=(0, 1, 0), c4=(0, 0, 1), c8=(0, 0.5, 0.5))
    spans = decode_moments(unary, top_n=2)
    assert {(s.start_clip, s.end_clip) for s in spans} == {(1, 4), (8, 8)}
    assert spans[0].score == pytest.approx(spans[1].score, abs=1e-6) == pytest.approx(1.0, abs=1e-6)


def test_nms_suppresses_overlaps() -> None:
    unary = tags(10, c2=(0, 1, 0), c5=(0.5, 0, 0.5), c6=(0.5, 0, 0.5))
    starts_ends = [(s.start_clip, s.end_clip) for s in decode_moments(unary, top_n=2, nms_iou=0.5)]
    assert (2, 5) in starts_ends and (2, 6) not in starts_ends  # IoU 4/5 > 0.5
    loose = [(s.start_clip, s.end_clip) for s in decode_moments(unary, top_n=2, nms_iou=0.9)]
    assert set(loose) == {(2, 5), (2, 6)}


def test_min_and_max_length() -> None:
    unary = tags(10, c2=(0, 1, 0), c5=(0, 0, 1), c8=(0, 0.5, 0.5))
    short = decode_moments(unary, top_n=10, max_clips=3)
    assert all(s.end_clip - s.start_clip + 1 <= 3 for s in short) and (2, 5) not in [
        (s.start_clip, s.end_clip) for s in short
    ]
    long = decode_moments(unary, top_n=10, min_clips=2)
    assert all(s.end_clip > s.start_clip for s in long)
    assert decode_moments(unary, min_clips=11) == []


def test_pair_term_breaks_a_tie() -> None:
    unary = tags(8, c1=(0, 0.5, 0.5), c5=(0, 0.5, 0.5))
    pair = torch.zeros(7, 3, 3)
    pair[4, OTHER, BEGIN] = pair[4, OTHER, END] = 3.0  # (4, 5) says clip 5 starts/ends a moment
    spans = decode_moments(unary, pair, top_n=1)
    assert (spans[0].start_clip, spans[0].end_clip) == (5, 5)


def brute_force(unary: torch.Tensor, pair: torch.Tensor) -> dict[tuple[int, int], float]:
    """The documented score, one span at a time."""
    c = unary.shape[0]
    lu = unary.log_softmax(-1)
    lp = pair.reshape(c - 1, 9).log_softmax(-1).view(c - 1, 3, 3).exp()
    out = {}
    for s in range(c):
        for e in range(s, c):
            if s == e:
                terms = [float(lu[s, BEGIN] + lu[s, END]) / 2 + math.log(2.0)] * 2
                if s > 0:
                    terms.append(math.log(lp[s - 1, OTHER, BEGIN] + lp[s - 1, OTHER, END]))
                if e < c - 1:
                    terms.append(math.log(lp[e, BEGIN, OTHER] + lp[e, END, OTHER]))
            else:
                terms = [float(lu[s, BEGIN]), float(lu[e, END])]
                if s > 0:
                    terms.append(math.log(lp[s - 1, OTHER, BEGIN]))
                if e < c - 1:
                    terms.append(math.log(lp[e, END, OTHER]))
            out[(s, e)] = math.exp(sum(terms) / len(terms))
    return out


def test_vectorised_scores_match_the_formula() -> None:
    gen = torch.Generator().manual_seed(3)
    unary, pair = torch.randn(6, 3, generator=gen), torch.randn(5, 3, 3, generator=gen)
    spans = decode_moments(unary, pair, top_n=100, nms_iou=1.0)
    expected = brute_force(unary, pair)
    assert len(spans) == len(expected) == 21
    for span in spans:
        assert span.score == pytest.approx(expected[(span.start_clip, span.end_clip)], rel=1e-5)


@pytest.mark.parametrize("n", [1, 2, 9])
def test_span_score_is_the_decoders_score_of_any_span(n: int) -> None:
    gen = torch.Generator().manual_seed(n)
    unary, pair = torch.randn(n, 3, generator=gen) * 3, torch.randn(max(n - 1, 0), 3, 3, generator=gen) * 3
    for p in (pair, None):
        spans = decode_moments(unary, p, top_n=1000, nms_iou=1.0)
        assert len(spans) == n * (n + 1) // 2
        for span in spans:
            assert span_scorer(unary, p)(span.start_clip, span.end_clip) == pytest.approx(
                span.score, rel=1e-5
            )
    with pytest.raises(ValueError, match="not inside"):
        span_scorer(unary, pair)(0, n)


def test_similarity_span_score_is_the_curves_score_of_a_run() -> None:
    sims = np.random.default_rng(4).normal(size=15)
    for span in similarity_moments(sims, top_n=100):
        assert similarity_span_scorer(sims)(span.start_clip, span.end_clip) == pytest.approx(span.score)


def test_spans_to_seconds() -> None:
    assert spans_to_seconds(Span(2, 3, 1.0), 1.5, 100.0) == (3.0, 6.0)
    assert spans_to_seconds(Span(6, 6, 1.0), 1.5, 10.0) == (9.0, 10.0)  # cut at the duration


def per_video(
    unary: torch.Tensor,
    pair: torch.Tensor | None,
    lengths: list[int],
    top_n: int,
    min_clips: int,
    max_clips: int | None,
    nms_iou: float,
) -> list[list[Span]]:
    """The reference: `decode_moments` on each video's own (unpadded) rows, as stage 2 used to call it."""
    out = []
    for row, n in enumerate(lengths):
        cap = n if max_clips is None else min(max_clips, n)
        p = None if pair is None else pair[row, : max(n - 1, 0)]
        out.append(decode_moments(unary[row, :n], p, top_n, min_clips, cap, nms_iou))
    return out


def assert_same_spans(batched: list[list[Span]], expected: list[list[Span]]) -> None:
    assert len(batched) == len(expected)
    for got, want in zip(batched, expected, strict=True):
        assert [(s.start_clip, s.end_clip) for s in got] == [(s.start_clip, s.end_clip) for s in want]
        for a, b in zip(got, want, strict=True):
            assert a.score == pytest.approx(b.score, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_batched_decoder_equals_per_video_decoder(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    k = 1 + seed * 3
    lengths = [int(n) for n in torch.randint(1, 40, (k,), generator=gen)]
    lengths[0] = 1  # a one-clip video
    c = max(lengths) + int(seed % 2) * 3  # sometimes wider than every video (all rows padded)
    unary = torch.randn(k, c, 3, generator=gen) * 2.0
    pair = torch.randn(k, max(c - 1, 0), 3, 3, generator=gen) * 2.0
    for row, n in enumerate(lengths):  # padding holds garbage that must never reach a score
        unary[row, n:] = 50.0
        pair[row, max(n - 1, 0) :] = -50.0
    cases = [
        (10, 1, None, 0.5),
        (3, 1, 4, 0.5),  # max length, single-clip spans allowed
        (5, 3, None, 0.5),  # min length
        (4, 2, 6, 0.3),
        (100, 1, None, 1.0),  # no suppression: every span, in score order
        (10, 1, None, 0.0),  # any overlap suppresses: the candidate pool runs dry and is refilled
        (7, 50, None, 0.5),  # longer than every video: nothing
    ]
    for top_n, min_clips, max_clips, iou in cases:
        for p in (pair, None):
            expected = per_video(unary, p, lengths, top_n, min_clips, max_clips, iou)
            batched = decode_moments_batch(unary, p, lengths, top_n, min_clips, max_clips, iou)
            assert_same_spans(batched, expected)


def test_batched_decoder_small_pool_is_refilled_exactly() -> None:
    # one long video, strong NMS, many spans asked: the first candidate pool cannot hold the answer
    gen = torch.Generator().manual_seed(7)
    unary, pair = torch.randn(2, 120, 3, generator=gen), torch.randn(2, 119, 3, 3, generator=gen)
    for iou in (0.0, 0.1, 0.5):
        expected = per_video(unary, pair, [120, 77], 40, 1, None, iou)
        assert_same_spans(decode_moments_batch(unary, pair, [120, 77], 40, 1, None, iou), expected)


def test_batched_decoder_breaks_ties_like_argmax() -> None:
    # identical clips give exactly equal scores: the lower (start, length) wins, as in the reference
    unary = torch.zeros(3, 12, 3)
    pair = torch.zeros(3, 11, 3, 3)
    lengths = [12, 9, 5]
    for iou in (0.5, 1.0):
        expected = per_video(unary, pair, lengths, 6, 1, None, iou)
        assert_same_spans(decode_moments_batch(unary, pair, lengths, 6, 1, None, iou), expected)


def test_batched_decoder_edges() -> None:
    assert decode_moments_batch(torch.zeros(0, 5, 3), None, [], 5) == []
    assert decode_moments_batch(torch.zeros(2, 5, 3), None, [5, 3], 0) == [[], []]
    spans = decode_moments_batch(tags(10, c2=(0, 1, 0), c5=(0, 0, 1))[None], None, [10], 3)
    assert (spans[0][0].start_clip, spans[0][0].end_clip) == (2, 5)
    assert spans[0][0].score == pytest.approx(1.0, abs=1e-6)


def test_score_one_query_matches_forward() -> None:
    torch.manual_seed(1)
    for name in ("kairos-tiny", "kairos-small"):
        config = get_config(name)
        head = MomentHead(config).eval()
        query = torch.nn.functional.normalize(torch.randn(config.dim), dim=-1)
        clips = torch.randn(4, 9, config.dim)
        mask = torch.arange(9)[None, :] < torch.tensor([9, 4, 1, 7])[:, None]
        with torch.inference_mode():
            unary, pair = head(query[None].expand(4, -1), clips, mask)
            fast_unary, fast_pair = head.score_one_query(query, clips, mask)
        torch.testing.assert_close(fast_unary, unary, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(fast_pair, pair, atol=1e-5, rtol=1e-4)


def test_score_videos_equals_the_padded_batch() -> None:
    torch.manual_seed(2)
    config = get_config("kairos-small")
    head = MomentHead(config).eval()
    query = torch.nn.functional.normalize(torch.randn(config.dim), dim=-1)
    lengths = [9, 1, 4, 2, 7]
    clips = torch.randn(len(lengths), 9, config.dim)
    mask = torch.arange(9)[None, :] < torch.tensor(lengths)[:, None]
    packed = torch.cat([clips[k, :n] for k, n in enumerate(lengths)])
    with torch.inference_mode():
        unary, pair = head.score_one_query(query, clips, mask)
        fast_unary, fast_pair = head.score_videos(query, packed, lengths)
    assert fast_unary.shape == unary.shape and fast_pair.shape == pair.shape
    for k, n in enumerate(lengths):
        torch.testing.assert_close(fast_unary[k, :n], unary[k, :n], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(fast_pair[k, : n - 1], pair[k, : n - 1], atol=1e-5, rtol=1e-4)
    fast = decode_moments_batch(fast_unary, fast_pair, lengths, 3)
    slow = decode_moments_batch(unary, pair, lengths, 3)
    assert [[(s.start_clip, s.end_clip) for s in v] for v in fast] == [
        [(s.start_clip, s.end_clip) for s in v] for v in slow
    ]
    assert [s.score for v in fast for s in v] == pytest.approx([s.score for v in slow for s in v], rel=1e-5)


def test_batched_decoder_refill_with_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    # one clear span whose overlapping neighbours fill the first pool; the next picks lie outside it and tie
    import models.moment as moment

    pools: list[int] = []
    real = moment._nms_pool

    def counting(values: np.ndarray, *args: Any) -> np.ndarray:
        pools.append(values.shape[1])
        return real(values, *args)

    monkeypatch.setattr(moment, "_nms_pool", counting)
    unary = tags(120, c50=(0, 1, 0), c60=(0, 0, 1))[None]
    for iou in (0.0, 0.5):
        pools.clear()
        expected = per_video(unary, None, [120], 3, 1, None, iou)
        assert_same_spans(decode_moments_batch(unary, None, [120], 3, 1, None, iou), expected)
        assert len(pools) == 2 and pools[1] > pools[0]  # the pool was refilled


def test_similarity_moments_find_the_run_around_the_best_clip() -> None:
    sims = np.array([0.1, 0.12, 0.6, 0.62, 0.61, 0.1, 0.4, 0.1])
    spans = similarity_moments(sims, top_n=3)
    assert (spans[0].start_clip, spans[0].end_clip) == (2, 4)
    assert 0.0 < spans[-1].score <= spans[0].score <= 1.0
    assert all(0.0 < span.score <= 1.0 for span in spans)


def test_similarity_moments_respect_length_bounds_and_nms() -> None:
    sims = np.array([0.1, 0.6, 0.62, 0.58, 0.1])
    assert all(span.end_clip - span.start_clip + 1 <= 2 for span in similarity_moments(sims, max_clips=2))
    spans = similarity_moments(sims, top_n=10, nms_iou=0.5)
    for a, b in zip(spans, spans[1:], strict=False):
        inter = max(0, min(a.end_clip, b.end_clip) - max(a.start_clip, b.start_clip) + 1)
        union = (a.end_clip - a.start_clip + 1) + (b.end_clip - b.start_clip + 1) - inter
        assert inter / union <= 0.5
    assert similarity_moments(np.zeros(0)) == []

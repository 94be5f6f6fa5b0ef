"""Moment head, tag targets, and the B/E/O decoder on hand-made tag sequences."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models.moment import BEGIN, END, OTHER, MomentHead, Span, decode_moments, spans_to_seconds, tag_targets
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


def test_spans_to_seconds() -> None:
    assert spans_to_seconds(Span(2, 3, 1.0), 1.5, 100.0) == (3.0, 6.0)
    assert spans_to_seconds(Span(6, 6, 1.0), 1.5, 10.0) == (9.0, 10.0)  # cut at the duration

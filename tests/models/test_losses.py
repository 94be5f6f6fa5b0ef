"""Losses against hand-computed values and their defining properties."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from models.losses import info_nce, mfm_nce, mfm_positions, soft_cross_entropy, symmetric_nce, tag_losses

torch.set_num_threads(1)


def test_info_nce_single_positive_is_cross_entropy() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(5, 7, generator=gen)
    target = torch.tensor([0, 3, 6, 2, 2])
    loss = info_nce(scores, F.one_hot(target, 7).bool(), temperature=0.05)
    assert float(loss) == pytest.approx(float(F.cross_entropy(scores / 0.05, target)), rel=1e-5)


def test_info_nce_multi_positive_hand_case() -> None:
    scores = torch.tensor([[1.0, 1.0, 0.0, 5.0]])
    positives = torch.tensor([[True, True, False, False]])
    valid = torch.tensor([[True, True, True, False]])  # the 5.0 column is padding
    loss = info_nce(scores, positives, temperature=1.0, valid=valid)
    # each positive against the one negative: -log(e / (e + 1))
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-1.0)), rel=1e-6)


def test_info_nce_ignores_rows_without_positive() -> None:
    scores = torch.tensor([[2.0, 0.0], [0.0, 9.0]])
    positives = torch.tensor([[True, False], [False, False]])
    loss = info_nce(scores, positives, temperature=1.0)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-2.0)), rel=1e-6)
    assert float(info_nce(scores, torch.zeros_like(positives), 1.0)) == 0.0


def test_symmetric_nce_extra_negative_queries_raise_the_loss() -> None:
    scores = torch.tensor([[0.5, 0.1], [0.0, 0.6]])
    positives = torch.eye(2, dtype=torch.bool)
    base = symmetric_nce(scores, positives, 0.1)
    harder = symmetric_nce(scores, positives, 0.1, extra_rows=torch.tensor([[0.45, 0.55]]))
    assert float(harder) > float(base)
    # Extra rows only widen the candidate → query side: the query → candidate side is unchanged.
    forward = info_nce(scores, positives, 0.1)
    assert float(2 * harder - forward) == pytest.approx(
        float(
            info_nce(
                torch.tensor([[0.5, 0.0, 0.45], [0.1, 0.6, 0.55]]),
                torch.tensor([[True, False, False], [False, True, False]]),
                0.1,
            )
        ),
        rel=1e-6,
    )


def test_soft_cross_entropy_matches_hard_labels_and_masks() -> None:
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    targets = F.one_hot(torch.tensor([[0, 1]]), 3).float()
    mask = torch.tensor([[True, False]])
    expected = F.cross_entropy(logits[0, :1], torch.tensor([0]))
    assert float(soft_cross_entropy(logits, targets, mask)) == pytest.approx(float(expected))
    soft = torch.full((1, 2, 3), 1 / 3)
    assert float(soft_cross_entropy(torch.zeros(1, 2, 3), soft, torch.ones(1, 2, dtype=torch.bool))) == (
        pytest.approx(math.log(3))
    )


def test_tag_losses_mask_pairs_with_a_padded_clip() -> None:
    unary = torch.zeros(1, 3, 3)
    pair = torch.zeros(1, 2, 3, 3)
    pair[0, 1] = 100.0  # garbage on the pair that touches the padded clip
    u_t = torch.full((1, 3, 3), 1 / 3)
    p_t = torch.full((1, 2, 3, 3), 1 / 9)
    first, second = tag_losses(unary, pair, u_t, p_t, torch.tensor([[True, True, False]]))
    assert float(first) == pytest.approx(math.log(3))
    assert float(second) == pytest.approx(math.log(9))


def test_mfm_positions_respect_mask_and_force_one_per_video() -> None:
    mask = torch.tensor([[True, True, True, False], [True, False, False, False], [False] * 4])
    chosen = mfm_positions(mask, ratio=0.0, generator=torch.Generator().manual_seed(1))
    assert chosen.sum(dim=1).tolist() == [1, 1, 0]
    assert not bool((chosen & ~mask).any())
    many = mfm_positions(torch.ones(64, 50, dtype=torch.bool), 0.15, torch.Generator().manual_seed(2))
    assert 0.12 < float(many.float().mean()) < 0.18
    again = mfm_positions(torch.ones(64, 50, dtype=torch.bool), 0.15, torch.Generator().manual_seed(2))
    assert torch.equal(many, again)


def test_mfm_nce_prefers_the_matching_target() -> None:
    targets = F.normalize(torch.randn(6, 8, generator=torch.Generator().manual_seed(3)), dim=1)
    index = torch.tensor([4, 1])
    good = mfm_nce(targets[index], targets, index, temperature=0.05)
    bad = mfm_nce(targets[torch.tensor([0, 2])], targets, index, temperature=0.05)
    assert float(good) < 0.1 < float(bad)

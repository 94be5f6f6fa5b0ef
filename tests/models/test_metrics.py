"""Metrics against hand-computed cases; IoU as TVR's standalone_eval computes it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.metrics import moment_recall, temporal_iou, video_ranks, video_recall


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ((0.0, 2.0), (1.0, 3.0), 1 / 3),  # overlap 1 s, union 3 s
        ((1.0, 2.0), (0.0, 4.0), 0.25),  # contained
        ((0.0, 4.0), (0.0, 4.0), 1.0),
        ((0.0, 1.0), (2.0, 3.0), 0.0),  # disjoint: hull 3 s, intersection 0
        ((2.0, 2.0), (2.0, 2.0), 0.0),  # empty hull: 0, as np.divide(..., where=union != 0)
        ((4.5, 9.0), (3.0, 7.5), 3.0 / 6.0),
    ],
)
def test_temporal_iou_hand_cases(
    pred: tuple[float, float], gold: tuple[float, float], expected: float
) -> None:
    iou = temporal_iou(torch.tensor([pred]), torch.tensor(gold))
    assert iou.shape == (1,)
    assert float(iou[0]) == pytest.approx(expected)


def test_temporal_iou_pairwise_gold() -> None:
    pred = torch.tensor([[0.0, 2.0], [1.0, 2.0]])
    gold = torch.tensor([[1.0, 3.0], [0.0, 4.0]])
    assert temporal_iou(pred, gold).tolist() == pytest.approx([1 / 3, 0.25])


def test_video_recall_hand_case() -> None:
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # gold 0 → rank 0
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2],  # gold 6 → rank 6
            [0.5, 0.5, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # gold 1, tie with 0 → rank 1
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2],  # gold 11 → rank 11
        ]
    )
    gold = torch.tensor([0, 6, 1, 11])
    assert video_ranks(scores, gold).tolist() == [0, 6, 1, 11]
    assert video_recall(scores, gold) == {"vr_r1": 0.25, "vr_r5": 0.5, "vr_r10": 0.75}


def test_constant_scores_do_not_look_perfect() -> None:
    scores = torch.zeros(3, 4)
    assert video_recall(scores, torch.tensor([0, 1, 2]))["vr_r1"] == 0.0


def test_moment_recall_hand_case() -> None:
    gold = torch.tensor([[0.0, 3.0], [3.0, 6.0], [0.0, 1.5]])
    predictions = [
        torch.tensor([[0.0, 3.0], [6.0, 9.0]]),  # top-1 exact
        torch.tensor([[0.0, 1.5], [3.0, 7.5], [1.5, 6.0]]),  # top-2 IoU 3/4.5=0.667, top-3 IoU 0.667
        torch.zeros(0, 2),  # nothing predicted
    ]
    metrics = moment_recall(predictions, gold)
    assert metrics["svmr_r1_iou0.5"] == pytest.approx(1 / 3)
    assert metrics["svmr_r1_iou0.7"] == pytest.approx(1 / 3)
    assert metrics["svmr_r5_iou0.5"] == pytest.approx(2 / 3)
    assert metrics["svmr_r5_iou0.7"] == pytest.approx(1 / 3)


def test_temporal_iou_equals_the_official_float32_formula() -> None:
    rng = np.random.default_rng(0)
    starts = rng.uniform(0, 60, size=(500, 2)).astype(np.float32)
    preds = np.stack([starts[:, 0], starts[:, 0] + rng.uniform(0, 20, 500).astype(np.float32)], axis=1)
    gt = np.array([12.3, 19.7], dtype=np.float32)
    # standalone_eval/eval.py, compute_temporal_iou_batch
    inter = np.maximum(0, np.minimum(preds[:, 1], gt[1]) - np.maximum(preds[:, 0], gt[0]))
    union = np.maximum(preds[:, 1], gt[1]) - np.minimum(preds[:, 0], gt[0])
    official = np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)
    ours = temporal_iou(torch.from_numpy(preds), torch.from_numpy(gt)).numpy()
    assert ours.dtype == np.float32 and np.array_equal(ours, official)

"""TVR's official metrics on hand-computed cases, and the trainer's validation through them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from models.tvr_metrics import (
    RECALL_TOPKS,
    Metrics,
    evaluate_submission,
    moment_recall,
    temporal_iou,
    video_recall,
)

VIDEO2IDX = {"a": 0, "b": 1, "c": 2}
Preds = dict[int, list[list[Any]]]  # desc_id -> predictions [vid_idx, st, ed, score]


def _gt(desc_id: int, vid: str, ts: list[Any], desc_type: str = "v") -> dict[str, Any]:
    return {"desc_id": desc_id, "desc": f"query {desc_id}", "vid_name": vid, "ts": ts, "type": desc_type}


def _task(predictions: Preds) -> list[dict[str, Any]]:
    return [{"desc_id": d, "desc": f"query {d}", "predictions": p} for d, p in predictions.items()]


def _submission(**tasks: Preds) -> dict[str, Any]:
    return {"video2idx": VIDEO2IDX} | {name: _task(preds) for name, preds in tasks.items()}


@pytest.mark.parametrize(
    ("pred", "gt", "expected"),
    [
        ([5, 20], [0, 10], 5 / 20),  # overlap: the hull (20) is the union
        ([2, 4], [0, 10], 2 / 10),  # nested in the ground truth
        ([0, 10], [2, 4], 2 / 10),  # containing the ground truth
        ([12, 20], [0, 10], 0.0),  # disjoint: no intersection
        ([3, 7], [3, 7], 1.0),
        ([5, 5], [5, 5], 0.0),  # empty hull
    ],
)
def test_iou_divides_by_the_hull(pred: list[float], gt: list[float], expected: float) -> None:
    assert temporal_iou(np.array([pred]), np.array(gt))[0] == pytest.approx(expected)


def test_vcmr_counts_only_the_right_video() -> None:
    gt = [_gt(1, "a", [0, 10]), _gt(2, "b", [0, 10])]
    sub = _submission(VCMR={1: [[1, 0, 10, 0.9], [0, 0, 10, 0.8]], 2: [[0, 0, 10, 0.9]]})
    vcmr = evaluate_submission(sub, gt)["VCMR"]
    # query 1: perfect span in the wrong video at rank 1, right at rank 2; query 2: only the wrong video
    assert vcmr["0.5-r1"] == 0.0
    assert vcmr["0.5-r5"] == 50.0
    assert vcmr["0.7-r100"] == 50.0


def test_vcmr_thresholds_and_ranks() -> None:
    gt = [_gt(1, "a", [0, 10]), _gt(2, "a", [0, 10]), _gt(3, "a", [0, 10]), _gt(4, "a", [0, 10])]
    preds = {
        1: [[0, 0, 10, 1.0]],  # IoU 1
        2: [[0, 0, 6, 1.0]],  # IoU 0.6: passes 0.5 only
        3: [[0, 40, 50, 1.0]] * 5 + [[0, 0, 10, 0.5]],  # right span at rank 6: r10, not r5
        4: [[0, 5, 20, 1.0]],  # IoU 0.25 over the hull
    }
    vcmr = evaluate_submission(_submission(VCMR=preds), gt)["VCMR"]
    assert vcmr == {
        "0.5-r1": 50.0,
        "0.5-r5": 50.0,
        "0.5-r10": 75.0,
        "0.5-r100": 75.0,
        "0.7-r1": 25.0,
        "0.7-r5": 25.0,
        "0.7-r10": 50.0,
        "0.7-r100": 50.0,
    }


def test_iou_exactly_at_threshold_counts() -> None:
    gt = [_gt(1, "a", [0, 10])]
    vcmr = evaluate_submission(_submission(VCMR={1: [[0, 0, 7, 1.0]]}), gt)["VCMR"]
    assert vcmr["0.7-r1"] == 100.0


def test_svmr_drops_predictions_in_other_videos_before_ranking() -> None:
    gt = [_gt(1, "a", [0, 10])]
    # five wrong-video predictions first, then the right one: it is the first in the gt video, so r1
    preds = {1: [[1, 0, 10, 1.0]] * 5 + [[0, 0, 10, 0.1]]}
    result = evaluate_submission(_submission(SVMR=preds, VCMR=preds), gt)
    assert result["SVMR"]["0.5-r1"] == 100.0
    assert result["VCMR"]["0.5-r1"] == 0.0
    assert result["VCMR"]["0.5-r10"] == 100.0


def test_vr_finds_the_video_among_the_top_k() -> None:
    gt = [_gt(1, "a", [0, 10]), _gt(2, "b", [0, 10])]
    preds = {1: [[0, 0, 0, 1.0]], 2: [[0, 0, 0, 1.0], [2, 0, 0, 0.5], [1, 0, 0, 0.2]]}
    vr = evaluate_submission(_submission(VR=preds), gt)["VR"]
    assert vr == {"r1": 50.0, "r5": 100.0, "r10": 100.0, "r100": 100.0}


def test_fewer_than_k_predictions_and_none_at_all() -> None:
    gt = [_gt(1, "a", [0, 10]), _gt(2, "a", [0, 10])]
    preds: Preds = {1: [[0, 0, 10, 1.0]], 2: []}
    result = evaluate_submission(_submission(VCMR=preds, SVMR=preds, VR=preds), gt)
    assert result["VCMR"]["0.5-r100"] == 50.0
    assert result["SVMR"]["0.7-r5"] == 50.0
    assert result["VR"]["r100"] == 50.0


def test_only_the_first_100_predictions_count() -> None:
    gt = [_gt(1, "a", [0, 10])]
    preds = {1: [[1, 0, 10, 1.0]] * 100 + [[0, 0, 10, 0.1]]}
    assert evaluate_submission(_submission(VCMR=preds), gt)["VCMR"]["0.5-r100"] == 0.0


def test_scores_are_optional_and_ignored() -> None:
    gt = [_gt(1, "a", [0, 10])]
    preds: Preds = {1: [[1, 0, 10], [0, 0, 10, 0.1, "extra"]]}
    assert evaluate_submission(_submission(VCMR=preds), gt)["VCMR"]["0.5-r5"] == 100.0


def test_per_type_breakdown_and_output_layout() -> None:
    gt = [
        _gt(1, "a", [0, 10], "v"),
        _gt(2, "a", [0, 10], "t"),
        _gt(3, "a", [0, 10], "t"),
        _gt(4, "b", [0, 4], "vt"),
    ]
    preds = {1: [[0, 0, 10, 1.0]], 2: [[0, 0, 10, 1.0]], 3: [[2, 0, 10, 1.0]], 4: [[1, 0, 10, 1.0]]}
    result = evaluate_submission(_submission(VR=preds, VCMR=preds), gt)
    assert list(result) == ["VCMR", "VR", "VCMR_by_type", "VR_by_type"]
    by_type = result["VCMR_by_type"]
    assert (by_type["v-0.5-r1"], by_type["t-0.5-r1"], by_type["vt-0.5-r1"]) == (100.0, 50.0, 0.0)
    assert list(by_type)[:3] == ["v-0.5-r1", "v-0.5-r5", "v-0.5-r10"]
    assert by_type["desc_type_ratio"] == "v 25.0 t 50.0 vt 25.0"
    assert result["VR_by_type"]["vt-r1"] == 100.0
    assert list(result["VR_by_type"])[-1] == "desc_type_ratio"


def test_no_type_no_breakdown_and_empty_type_is_null() -> None:
    untyped = [{"desc_id": 1, "vid_name": "a", "ts": [0, 10]}]
    assert list(evaluate_submission(_submission(VR={1: [[0, 0, 0, 1.0]]}), untyped)) == ["VR"]
    typed = evaluate_submission(_submission(VR={1: [[0, 0, 0, 1.0]]}), [_gt(1, "a", [0, 10], "t")])
    assert typed["VR_by_type"]["v-r1"] is None


def test_four_or_more_spans_need_two_overlaps() -> None:
    spans = [[0, 5], [0, 5], [10, 15], [20, 25]]
    gt = [_gt(1, "a", spans), _gt(2, "a", spans)]
    preds = {1: [[0, 0, 5, 1.0]], 2: [[0, 10, 15, 1.0]]}  # two annotators agree on [0, 5]; one on [10, 15]
    assert evaluate_submission(_submission(VCMR=preds), gt)["VCMR"]["0.5-r1"] == 50.0


def test_any_one_of_several_windows_counts() -> None:
    """QVHighlights windows (`windows`): one hit is enough, even with four of them (no DiDeMo rule)."""
    windows = [[0, 10], [20, 30], [40, 50], [60, 70]]
    gt = [_gt(1, "a", [0, 10]) | {"windows": windows}, _gt(2, "a", [0, 10]) | {"windows": windows[:2]}]
    sub = _submission(VCMR={1: [[0, 60, 70, 1.0]], 2: [[0, 21, 29, 1.0]]})
    vcmr = evaluate_submission(sub, gt)["VCMR"]
    assert vcmr["0.5-r1"] == 100.0 and vcmr["0.7-r1"] == 100.0


def test_mismatched_desc_ids_are_an_error() -> None:
    with pytest.raises(ValueError, match="1 ground-truth queries have no predictions"):
        evaluate_submission(_submission(VR={1: []}), [_gt(1, "a", [0, 1]), _gt(2, "a", [0, 1])])
    with pytest.raises(ValueError, match="not in video2idx"):
        evaluate_submission(_submission(VR={1: []}), [_gt(1, "zzz", [0, 1])])


def _value(metrics: Metrics, key: str) -> float:
    value = metrics[key]
    assert isinstance(value, float)
    return value


_prediction = st.tuples(
    st.integers(0, 2), st.floats(0, 60, allow_nan=False), st.floats(0, 30, allow_nan=False)
).map(lambda p: [float(p[0]), p[1], p[1] + p[2], 0.0])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(_prediction, max_size=12), min_size=1, max_size=6))
def test_recall_is_monotone_in_k(predictions: list[list[list[float]]]) -> None:
    gt = [
        _gt(i, "abc"[i % 3], [float(i), float(i) + 10.0], ("v", "t", "vt")[i % 3])
        for i in range(len(predictions))
    ]
    preds = dict(enumerate(predictions))
    result = evaluate_submission(_submission(VCMR=preds, SVMR=preds, VR=preds), gt)
    for task, prefixes in (("VCMR", ("0.5-", "0.7-")), ("SVMR", ("0.5-", "0.7-")), ("VR", ("",))):
        for prefix in prefixes:
            values = [_value(result[task], f"{prefix}r{k}") for k in RECALL_TOPKS]
            assert values == sorted(values), (task, prefix, values)
    for k in RECALL_TOPKS:  # a stricter IoU never recalls more
        assert _value(result["VCMR"], f"0.7-r{k}") <= _value(result["VCMR"], f"0.5-r{k}")


def test_video_recall_hand_case() -> None:
    scores = torch.tensor(
        [
            [0.9, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # gold 0 → rank 0
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2],  # gold 6 → rank 6
            [0.5, 0.5, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # gold 1, tie with 0 → rank 1
            [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, -0.1, -0.2],  # gold 11 → rank 11
        ]
    )
    gold = torch.tensor([0, 6, 1, 11])  # ranks 0, 6, 1 (a tie counts against the gold video), 11
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
    ours = temporal_iou(preds, gt)
    assert ours.dtype == np.float32 and np.array_equal(ours, official)

"""TVR's official evaluation (jayleicn/TVRetrieval, ``standalone_eval/eval.py``), reimplemented with numpy.

Mirrored from the official evaluator:

- input: a submission ``{"video2idx": {vid_name: idx}, "VCMR": [...], "SVMR": [...], "VR": [...]}``, each
  task a list of ``{"desc_id", "desc", "predictions": [[vid_idx, st, ed, score], ...]}`` (best first; only
  the first three numbers are read, only the first 100 predictions count), and the ground-truth TVR jsonl
  rows (``vid_name``, ``ts``, ``desc_id``, ``type``); each task's desc_ids must equal the ground truth's;
- temporal IoU = intersection / hull of the two spans (max end - min start), not the union; 0 for an empty
  hull; computed in float32 and compared with the float32 thresholds 0.5 and 0.7;
- a prediction is correct when its video is the ground-truth video and its IoU >= the threshold; for a
  ground truth of four or more spans (DiDeMo) it must reach the threshold with at least two of them;
- VCMR: R@k = share of queries with a correct prediction among the top k;
  SVMR: the same over the query's predictions in the ground-truth video only (the others are dropped first);
  VR: share of queries whose ground-truth video is among the top k predicted video indices;
- recall keys ``{0.5,0.7}-r{1,5,10,100}`` (VCMR, SVMR) and ``r{1,5,10,100}`` (VR), values percentages rounded
  to two decimals; per-type keys ``{v,t,vt}-{0.5,0.7}-r{k}`` / ``{v,t,vt}-r{k}`` plus ``desc_type_ratio``
  (``"v 40.0 t 30.0 vt 30.0"``) under ``<TASK>_by_type``;
- output order: the submitted tasks in the order VCMR, SVMR, VR, then their ``<TASK>_by_type`` entries.

Added: a row with ``windows`` (several QVHighlights windows, ``indexer.annotations``) is correct when the
prediction reaches the threshold with any one of them, as QVHighlights' evaluator takes the best IoU.

Differences, all where the official script would crash or print NaN: a query with no predictions scores 0;
``<TASK>_by_type`` is left out when some ground-truth row has no ``type`` (synthetic corpora); a type with no
queries gets ``None`` (JSON null) instead of NaN; errors are ``ValueError`` with a message, not ``assert``.

The trainer's validation (``models.train.retrieval_metrics``) scores through the same definitions:
``video_recall`` (VR) and ``moment_recall`` (SVMR) take its tensors and report fractions (0-1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

IOU_THRESHOLDS = (0.5, 0.7)
RECALL_TOPKS = (1, 5, 10, 100)
MAX_PREDICTIONS = 100
VR_KS = (1, 5, 10)  # the trainer's validation
SVMR_KS = (1, 5)
TASKS = ("VCMR", "SVMR", "VR")
DESC_TYPES = ("v", "t", "vt")

Metrics = dict[str, float | str | None]


def temporal_iou(spans: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU over the hull of spans [..., 2] and gt spans broadcast to them, in float32; 0 for an empty hull."""
    spans = np.asarray(spans, dtype=np.float32)
    gt = np.asarray(gt, dtype=np.float32)
    inter = np.maximum(
        np.float32(0), np.minimum(spans[..., 1], gt[..., 1]) - np.maximum(spans[..., 0], gt[..., 0])
    )
    hull = np.maximum(spans[..., 1], gt[..., 1]) - np.minimum(spans[..., 0], gt[..., 0])
    return np.divide(inter, hull, out=np.zeros_like(inter), where=hull != 0)


@dataclass(frozen=True)
class _Truth:
    """Ground truth as arrays over its n distinct desc_ids."""

    desc_ids: list[Any]
    vid_idx: np.ndarray  # [n] float32
    spans: np.ndarray  # [n, G, 2] float32, padded
    span_mask: np.ndarray  # [n, G] bool
    min_overlaps: np.ndarray  # [n] int: 1, or 2 for four or more spans in ``ts``
    types: np.ndarray | None  # [n] str, None when a row has no type


def _gt_spans(row: Mapping[str, Any]) -> list[list[float]]:
    """The row's spans: ``windows`` if given, else ``ts``: one [st, ed] or (DiDeMo) four or more of them."""
    if "windows" in row:
        return [[float(s), float(e)] for s, e in row["windows"]]
    ts = row["ts"]
    if len(ts) >= 4:
        return [[float(s), float(e)] for s, e in ts]
    if len(ts) == 2 and not isinstance(ts[0], list | tuple):
        return [[float(ts[0]), float(ts[1])]]
    raise ValueError(f"desc_id {row.get('desc_id')}: ts must be [st, ed] or a list of 4+ spans, got {ts!r}")


def _truth(ground_truth: Sequence[Mapping[str, Any]], video2idx: Mapping[str, int]) -> _Truth:
    """Index the ground truth by desc_id (a repeated desc_id keeps its last row, as the official dict)."""
    by_id = {row["desc_id"]: row for row in ground_truth}
    rows = list(by_id.values())
    missing = sorted({row["vid_name"] for row in rows} - video2idx.keys())
    if missing:
        raise ValueError(f"{len(missing)} ground-truth videos are not in video2idx, e.g. {missing[0]!r}")
    spans = [_gt_spans(row) for row in rows]
    width = max((len(s) for s in spans), default=1)
    span_arr = np.zeros((len(rows), width, 2), dtype=np.float32)
    span_mask = np.zeros((len(rows), width), dtype=bool)
    for i, row_spans in enumerate(spans):
        span_arr[i, : len(row_spans)] = row_spans
        span_mask[i, : len(row_spans)] = True
    has_types = all("type" in row for row in rows)
    if has_types and (bad := {row["type"] for row in rows} - set(DESC_TYPES)):
        raise ValueError(f"unknown desc type(s) {sorted(bad)}; expected one of {list(DESC_TYPES)}")
    return _Truth(
        desc_ids=list(by_id),
        vid_idx=np.array([video2idx[row["vid_name"]] for row in rows], dtype=np.float32),
        spans=span_arr,
        span_mask=span_mask,
        min_overlaps=np.array(
            [2 if len(s) >= 4 and "windows" not in row else 1 for s, row in zip(spans, rows, strict=True)],
            dtype=np.int64,
        ),
        types=np.array([row["type"] for row in rows]) if has_types else None,
    )


def _prediction_matrix(task: str, entries: Sequence[Mapping[str, Any]], truth: _Truth) -> np.ndarray:
    """Predictions [n, P, 3] (vid_idx, st, ed) in float32, NaN-padded, rows in ground-truth order."""
    by_id = {entry["desc_id"]: entry["predictions"] for entry in entries}
    if by_id.keys() != set(truth.desc_ids):
        extra, absent = len(by_id.keys() - truth.desc_ids), len(set(truth.desc_ids) - by_id.keys())
        raise ValueError(
            f"{task}: desc_ids of predictions and ground truth must match "
            f"({absent} ground-truth queries have no predictions, {extra} predictions have no ground truth)"
        )
    rows = [by_id[desc_id][:MAX_PREDICTIONS] for desc_id in truth.desc_ids]
    matrix = np.full((len(rows), max((len(r) for r in rows), default=0), 3), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        if row:
            matrix[i, : len(row)] = _first_three(row)
    return matrix


def _first_three(row: Sequence[Sequence[float]]) -> np.ndarray:
    """[vid_idx, st, ed] of each prediction [n, 3]; extra entries (the score) are ignored."""
    try:
        return np.asarray(row, dtype=np.float32)[:, :3]
    except ValueError:  # predictions of different lengths
        return np.asarray([p[:3] for p in row], dtype=np.float32)


def _percent(hits: np.ndarray) -> float | None:
    """Share of true values as a percentage rounded to two decimals, as the official script rounds it."""
    if hits.size == 0:
        return None
    return float(np.round(np.float64(hits.mean()) * 100, 2))


def _recalls(
    task: str,
    preds: np.ndarray,
    truth: _Truth,
    topks: Sequence[int] = RECALL_TOPKS,
    thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, np.ndarray]:
    """Per-query hit vectors [n] keyed as the official metrics (``0.5-r1`` ... or ``r1`` ...)."""
    matched = preds[:, :, 0] == truth.vid_idx[:, None]  # [n, P]; NaN padding never matches
    if task == "VR":
        return {f"r{k}": matched[:, :k].any(axis=1) for k in topks}
    iou = temporal_iou(preds[:, :, None, 1:3], truth.spans[:, None]) * matched[:, :, None]  # [n, P, G]
    if task == "SVMR":  # the top k among the query's predictions in its ground-truth video
        top = {k: matched & (np.cumsum(matched, axis=1) <= k) for k in topks}
    else:
        top = {k: np.broadcast_to(np.arange(preds.shape[1]) < k, matched.shape) for k in topks}
    valid = ~np.isnan(preds[:, :, 0])
    hits: dict[str, np.ndarray] = {}
    for thd in thresholds:
        over = ((iou >= np.float32(thd)) & truth.span_mask[:, None]).sum(axis=2)
        correct = (over >= truth.min_overlaps[:, None]) & valid  # [n, P]
        hits.update({f"{thd}-r{k}": (correct & top[k]).any(axis=1) for k in topks})
    return hits


def _by_type(hits: Mapping[str, np.ndarray], types: np.ndarray) -> Metrics:
    """The per-type breakdown: ``{type}-{key}`` for each type, then ``desc_type_ratio``."""
    out: Metrics = {
        f"{desc_type}-{key}": _percent(hit[types == desc_type])
        for desc_type in DESC_TYPES
        for key, hit in hits.items()
    }
    ratios = [_percent(types == desc_type) for desc_type in DESC_TYPES]
    out["desc_type_ratio"] = "v {} t {} vt {}".format(*ratios)
    return out


def evaluate_submission(
    submission: Mapping[str, Any], ground_truth: Sequence[Mapping[str, Any]]
) -> dict[str, Metrics]:
    """Metrics of the submitted tasks, keyed as the official ``eval_retrieval`` keys its result."""
    video2idx: Mapping[str, int] = submission["video2idx"]
    truth = _truth(ground_truth, video2idx)
    tasks = [task for task in TASKS if task in submission]
    hits = {task: _recalls(task, _prediction_matrix(task, submission[task], truth), truth) for task in tasks}
    results: dict[str, Metrics] = {
        task: {key: _percent(h) for key, h in hits[task].items()} for task in tasks
    }
    if truth.types is not None:
        for task in tasks:
            results[f"{task}_by_type"] = _by_type(hits[task], truth.types)
    return results


def _one_span_each(gold_video: np.ndarray, gold: np.ndarray) -> _Truth:
    """Ground truth of n queries, one span [n, 2] in video gold_video [n] each, no types."""
    n = len(gold_video)
    return _Truth(
        desc_ids=list(range(n)),
        vid_idx=np.asarray(gold_video, dtype=np.float32),
        spans=np.asarray(gold, dtype=np.float32).reshape(n, 1, 2),
        span_mask=np.ones((n, 1), dtype=bool),
        min_overlaps=np.ones(n, dtype=np.int64),
        types=None,
    )


def _fraction(hits: np.ndarray) -> float:
    return float(hits.mean()) if hits.size else 0.0


def video_recall(scores: Tensor, gold: Tensor, ks: Sequence[int] = VR_KS) -> dict[str, float]:
    """VR R@k (``vr_r{k}``, fractions) of scores [Q, V] against gold [Q]: TVR's VR over each query's videos
    ranked by score, the gold video after those it ties with (so constant scores do not look perfect)."""
    gold_np = gold.numpy()
    videos = np.arange(scores.shape[1])
    is_gold = videos[None, :] == gold_np[:, None]  # [Q, V]
    order = np.lexsort((is_gold, -scores.numpy()), axis=1)[:, : max(ks)]  # [Q, k] by score, then gold last
    preds = np.zeros((*order.shape, 3), dtype=np.float32)
    preds[:, :, 0] = order
    hits = _recalls("VR", preds, _one_span_each(gold_np, np.zeros((len(gold_np), 2))), ks)
    return {f"vr_r{k}": _fraction(hits[f"r{k}"]) for k in ks}


def moment_recall(
    predictions: Sequence[Tensor],
    gold: Tensor,
    ks: Sequence[int] = SVMR_KS,
    thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """SVMR R@k at IoU t (``svmr_r{k}_iou{t}``, fractions): TVR's SVMR of each query's ranked spans.

    predictions[q] is [n_q, 2] (start, end) seconds, best first, in the gold video; gold [Q, 2] seconds.
    """
    width = min(max((len(p) for p in predictions), default=0), max(ks))
    preds = np.full((len(predictions), width, 3), np.nan, dtype=np.float32)
    for q, spans in enumerate(predictions):
        n = min(len(spans), width)
        preds[q, :n, 0] = q
        preds[q, :n, 1:] = spans[:n].numpy()
    truth = _one_span_each(np.arange(len(predictions)), gold.numpy())
    hits = _recalls("SVMR", preds, truth, ks, thresholds)
    return {f"svmr_r{k}_iou{t}": _fraction(hits[f"{t}-r{k}"]) for k in ks for t in thresholds}

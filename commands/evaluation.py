"""TVR evaluation of the search pipeline: VCMR, SVMR and VR predictions in the official format, and metrics.

Each query goes through the same `SearchPipeline` requests the API serves: VCMR is `search` (both stages over
the whole snapshot), SVMR is `localize` in the ground-truth video, VR is `search_videos` (stage 1 only).
Video indices (`video2idx`) are the snapshot's own video order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from indexer.snapshot import Snapshot
from models.tvr_metrics import (
    DESC_TYPES,
    IOU_THRESHOLDS,
    MAX_PREDICTIONS,
    RECALL_TOPKS,
    TASKS,
    evaluate_submission,
)
from service.schemas import LocalizeRequest, SearchRequest, VideoSearchRequest
from service.search import SearchPipeline

Prediction = list[float]  # [vid_idx, st, ed, score]


@dataclass(frozen=True)
class Evaluation:
    """The prediction file (official TVR format) and the official metrics computed from it."""

    predictions: dict[str, Any]
    metrics: dict[str, Any]


def _entry(row: Mapping[str, Any], predictions: list[Prediction]) -> dict[str, Any]:
    return {"desc_id": row["desc_id"], "desc": row["desc"], "predictions": predictions[:MAX_PREDICTIONS]}


def build_predictions(
    pipeline: SearchPipeline, snapshot: Snapshot, queries: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """`{"video2idx", "VCMR", "SVMR", "VR"}` for TVR rows whose videos are all in the snapshot."""
    video2idx = {video_id: idx for idx, video_id in enumerate(snapshot.video_ids)}
    vcmr, svmr, vr = [], [], []
    for row in queries:
        body = {"query": row["desc"], "limit": MAX_PREDICTIONS}
        found = pipeline.search(SearchRequest.model_validate(body), snapshot).moments
        vcmr.append(_entry(row, [[video2idx[m.video_id], m.start, m.end, m.score] for m in found]))
        local = pipeline.localize(row["vid_name"], LocalizeRequest.model_validate(body), snapshot).moments
        svmr.append(_entry(row, [[video2idx[m.video_id], m.start, m.end, m.score] for m in local]))
        videos = pipeline.search_videos(VideoSearchRequest.model_validate(body), snapshot).videos
        vr.append(_entry(row, [[video2idx[v.video_id], 0.0, 0.0, v.score] for v in videos]))
    return {"video2idx": video2idx, "VCMR": vcmr, "SVMR": svmr, "VR": vr}


def run_evaluation(
    pipeline: SearchPipeline, snapshot: Snapshot, queries: Sequence[Mapping[str, Any]]
) -> Evaluation:
    """Predict all three tasks and score them with the official definitions."""
    predictions = build_predictions(pipeline, snapshot, queries)
    return Evaluation(predictions, evaluate_submission(predictions, queries))


def _cell(value: object) -> str:
    return "–" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def _rows(task: str, metrics: Mapping[str, Any]) -> list[str]:
    """Table rows of one task: all queries, then each query type when the breakdown is there."""
    by_type = metrics.get(f"{task}_by_type")
    groups = [("all", metrics[task], "")] + [(t, by_type, f"{t}-") for t in DESC_TYPES if by_type is not None]
    thresholds = [""] if task == "VR" else [f"{thd}" for thd in IOU_THRESHOLDS]
    rows = []
    for label, values, prefix in groups:
        for thd in thresholds:
            key = f"{prefix}{thd}-" if thd else prefix
            cells = " | ".join(_cell(values[f"{key}r{k}"]) for k in RECALL_TOPKS)
            rows.append(f"| {task} | {label} | {thd or '–'} | {cells} |")
    return rows


def format_table(metrics: Mapping[str, Any]) -> str:
    """Markdown table of the metrics (percent): a row per task, query type and IoU; then the query counts."""
    lines = [
        "| task | type | IoU | " + " | ".join(f"R@{k}" for k in RECALL_TOPKS) + " |",
        "|" + " --- |" * (3 + len(RECALL_TOPKS)),
    ]
    for task in TASKS:
        if task in metrics:
            lines += _rows(task, metrics)
    notes = [metrics[f"{task}_by_type"]["desc_type_ratio"] for task in TASKS if f"{task}_by_type" in metrics]
    lines += [f"\nQuery types (percent): {note}." for note in notes[:1]]
    if (queries := metrics.get("queries")) is not None:
        lines.append(
            f"{queries['evaluated']} queries from {queries['file']} on snapshot {queries['snapshot']}; "
            f"{queries['excluded']} excluded (their video is not in the snapshot)."
        )
    return "\n".join(lines)

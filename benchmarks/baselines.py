"""Two baselines for the quality report, each a system a user could set up in an afternoon.

Both turn a query into a score over *units* (a span in one video) and rank the units:

- `subtitle_units`: every subtitle line of every video, scored by the cosine of the pooled text-encoder
  vectors of query and line (all-MiniLM-L6-v2 as the model uses it); the moment is the line's span;
- `clip_window_units`: every clip vector stored in the snapshot, scored by query vector . clip vector (the
  model's query encoder; no segment/video stage-1 index and no moment head); the moment is a fixed window of
  `half_width` clips on each side of the clip, cut at the video's ends.

`submission` turns unit scores into TVR predictions (VCMR over all units, SVMR over the ground-truth video's
units, VR = videos ranked by their best unit), which `models.tvr_metrics.evaluate_submission` scores.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from indexer.snapshot import Snapshot
from indexer.subtitles import find_sidecar, read_subtitles
from models.encoders import TextEncoder
from models.model import KairosModel
from models.tvr_metrics import MAX_PREDICTIONS, temporal_iou
from service.search import normalise_query

log = logging.getLogger(__name__)

TEXT_BATCH = 64
NMS_IOU = 0.5  # as the service's decoder (service.search.NMS_IOU)


@dataclass(frozen=True)
class Units:
    """Rankable spans: video index [N] (snapshot order), span [N, 2] seconds, and a vector [N, D] each."""

    video_idx: np.ndarray
    spans: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.video_idx)


@torch.inference_mode()
def encode_texts(encoder: TextEncoder, texts: Sequence[str]) -> np.ndarray:
    """Pooled, L2-normalised sentence vectors [N, Dt] float32 (the sentence-transformers embedding)."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(texts), TEXT_BATCH):
        batch = list(texts[start : start + TEXT_BATCH])
        out[start : start + len(batch)] = encoder(batch).pooled.float().cpu().numpy()
    return out


@torch.inference_mode()
def encode_queries(model: KairosModel, texts: Sequence[str]) -> np.ndarray:
    """The model's query vectors [N, D] float32 (the same `encode_query` the search pipeline calls)."""
    out = np.zeros((len(texts), model.config.dim), dtype=np.float32)
    for start in range(0, len(texts), TEXT_BATCH):
        batch = [normalise_query(text) for text in texts[start : start + TEXT_BATCH]]
        features = model.text_encoder(batch)
        out[start : start + len(batch)] = model.encode_query(features).float().cpu().numpy()
    return out


def subtitle_units(snapshot: Snapshot, encoder: TextEncoder) -> tuple[Units, int]:
    """One unit per subtitle cue of every snapshot video (its sidecar beside the indexed video file).

    Returns the units and the number of videos without any subtitle line (they can never be ranked).
    """
    video_idx: list[int] = []
    spans: list[tuple[float, float]] = []
    texts: list[str] = []
    without = 0
    for row in snapshot.videos():
        sidecar = find_sidecar(row.path)
        cues = read_subtitles(sidecar) if sidecar is not None else []
        without += not cues
        for cue in cues:
            video_idx.append(row.idx)
            spans.append((cue.start, min(cue.end, row.duration)))
            texts.append(cue.text)
    if without:
        log.warning("%d of %d videos have no subtitle line", without, len(snapshot))
    units = Units(
        video_idx=np.asarray(video_idx, dtype=np.int64),
        spans=np.asarray(spans, dtype=np.float32).reshape(-1, 2),
        vectors=encode_texts(encoder, texts),
    )
    return units, without


def clip_window_units(snapshot: Snapshot, half_width: int) -> Units:
    """One unit per stored clip vector; its span covers clips [c - half_width, c + half_width]."""
    clip_seconds = snapshot.manifest.clip_seconds
    video_idx, spans, vectors = [], [], []
    for row in snapshot.videos():
        clips = np.asarray(snapshot.clip_vectors_at(row.idx), dtype=np.float32)
        c = np.arange(len(clips))
        start = np.maximum(c - half_width, 0) * clip_seconds
        end = (np.minimum(c + half_width, len(clips) - 1) + 1) * clip_seconds
        video_idx.append(np.full(len(clips), row.idx, dtype=np.int64))
        spans.append(np.stack([np.minimum(start, row.duration), np.minimum(end, row.duration)], axis=1))
        vectors.append(clips)
    return Units(
        video_idx=np.concatenate(video_idx),
        spans=np.concatenate(spans).astype(np.float32),
        vectors=np.concatenate(vectors),
    )


def rank_moments(
    scores: np.ndarray, units: Units, limit: int = MAX_PREDICTIONS, nms_iou: float | None = NMS_IOU
) -> list[list[float]]:
    """The best `limit` units as `[vid_idx, st, ed, score]`; a unit overlapping a better kept one of the same
    video (IoU > `nms_iou`) or repeating its span is dropped."""
    kept: list[int] = []
    kept_by_video: dict[int, list[int]] = {}
    for i in np.argsort(-scores, kind="stable"):
        video = int(units.video_idx[i])
        same = kept_by_video.setdefault(video, [])
        if same:
            iou = temporal_iou(units.spans[same], units.spans[i])
            duplicate = np.any(np.all(units.spans[same] == units.spans[i], axis=1))
            if duplicate or (nms_iou is not None and np.any(iou > nms_iou)):
                continue
        same.append(int(i))
        kept.append(int(i))
        if len(kept) == limit:
            break
    return [
        [float(units.video_idx[i]), float(units.spans[i, 0]), float(units.spans[i, 1]), float(scores[i])]
        for i in kept
    ]


def rank_videos(
    scores: np.ndarray, units: Units, n_videos: int, limit: int = MAX_PREDICTIONS
) -> list[list[float]]:
    """Videos by their best unit score as `[vid_idx, 0, 0, score]`; videos without units are not ranked."""
    best = np.full(n_videos, -np.inf, dtype=np.float64)
    np.maximum.at(best, units.video_idx, scores.astype(np.float64))
    order = [int(v) for v in np.argsort(-best, kind="stable")[:limit] if np.isfinite(best[v])]
    return [[float(v), 0.0, 0.0, float(best[v])] for v in order]


def submission(
    query_vectors: np.ndarray,
    units: Units,
    rows: Sequence[Mapping[str, Any]],
    video2idx: Mapping[str, int],
    nms_iou: float | None = NMS_IOU,
) -> dict[str, Any]:
    """`{"video2idx", "VCMR", "SVMR", "VR"}` for the query rows, from query vectors [Q, D] and the units."""
    scores = query_vectors @ units.vectors.T  # [Q, N]
    vcmr, svmr, vr = [], [], []
    for q, row in enumerate(rows):
        head = {"desc_id": row["desc_id"], "desc": row["desc"]}
        vcmr.append(head | {"predictions": rank_moments(scores[q], units, nms_iou=nms_iou)})
        own = np.flatnonzero(units.video_idx == video2idx[row["vid_name"]])
        local = Units(units.video_idx[own], units.spans[own], units.vectors[own])
        svmr.append(head | {"predictions": rank_moments(scores[q, own], local, nms_iou=nms_iou)})
        vr.append(head | {"predictions": rank_videos(scores[q], units, len(video2idx))})
    return {"video2idx": dict(video2idx), "VCMR": vcmr, "SVMR": svmr, "VR": vr}

"""The two-stage search pipeline, a plain object callable without HTTP.

1. encode: text encoder + `encode_query` -> one L2-normalised query vector, through the configured backend
   (torch, ONNX fp32 or int8), micro-batched with concurrent requests when a wait is set; remembered in
   process (a small LRU) and cached in Redis, both keyed by model fingerprint and normalised query text;
2. stage 1: the top-K candidate videos from FAISS. `segments` mode (the default, as HERO/XML): a video's
   score is its best segment similarity; `video` mode: the similarity of its one video vector. With line
   retrieval (`line_retrieval`, on by default, where the snapshot has line vectors), every stream's lines
   are searched too: the best lines by the query's sentence vector (FAISS) and by its words (BM25), fused per
   line by reciprocal rank (RRF), give videos ranked by their best line; the two video rankings are fused by
   RRF again, and a video's score is its fused score scaled into (0, 1] (1: first in both);
3. stage 2: the B/E/O moment head over the clip vectors of the best max(limit, `stage2_videos`) candidates,
   laid end to end in one batch, decoded into spans (per-video NMS in the decoder; spans of different videos
   never overlap);
4. lines as moments (`line_moments`): a line found in stage 1 takes the place of the head's span of the clips
   it covers, with that span's moment score: the moment head, which reads the pictures and the words, decides
   how far a moment reaches, and the line only gives finer bounds where the head's own span is the line's
   clips. Where the head prefers a span that reaches past the line (something seen around what is said),
   that span keeps its rank and NMS drops the line's; equal scores go to the head's span;
5. ranking: score = exp((s_v - s_max) / T) x m, where s_v is the stage-1 score of the span's video, s_max the
   best candidate's and m the span's moment score in (0, 1]. That is the softmax of the video scores over the
   candidates (temperature T) times the moment score, rescaled so the best video has weight 1: the ranking
   is the softmax one, and a score does not shrink just because more candidates were asked for.

Whole responses are cached too, keyed by snapshot version, model fingerprint, ranking settings and the
normalised request.
"""

from __future__ import annotations

import math
import time
import unicodedata
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from indexer.cues import Cue
from indexer.snapshot import Snapshot, VideoNotFoundError
from indexer.snapshot.lines import LineIndex
from models.model import KairosModel
from models.moment import (
    Span,
    SpanScorer,
    decode_moments_batch,
    similarity_moments,
    similarity_span_scorer,
    span_scorer,
    spans_to_seconds,
)
from models.onnx_export import default_cache_dir
from models.query_backends import QueryBackend, load_query_backend
from models.tvr_metrics import temporal_iou
from service.batcher import MicroBatcher
from service.cache import Cache, cache_key
from service.errors import ApiError
from service.fusion import best_per_group, rrf
from service.memo import VectorMemo
from service.metrics import Metrics
from service.schemas import (
    Answer,
    LocalizeRequest,
    MatchedLine,
    Moment,
    MomentBounds,
    SearchRequest,
    SearchResponse,
    Timings,
    VideoHit,
    VideoSearchRequest,
    VideoSearchResponse,
)
from service.settings import Settings

NMS_IOU = 0.5
STAGE2_FIRST_CHUNK = 16  # candidate videos in the first moment-head batch; later ones are 4x larger
Found = tuple[float, int, float, float, float]  # a moment of stage 2: (score, row, start, end, moment score)
Proposal = tuple[float, float, float]  # a moment of one video: (start s, end s, moment score)


def normalise_query(query: str) -> str:
    """Unicode NFKC and single spaces: requests that differ only there share cache entries."""
    return " ".join(unicodedata.normalize("NFKC", query).split())


@dataclass(frozen=True)
class Candidates:
    """Stage-1 result: video indices [K] into the snapshot and their scores [K], best first; `fused` when the
    scores are RRF scores (ranked with `line_temperature`); `spans`: video idx -> (start s, end s) of each of
    its lines found for the query, best first (candidate moments, `line_proposals`)."""

    idx: np.ndarray
    scores: np.ndarray
    fused: bool = False
    spans: dict[int, list[tuple[float, float]]] = field(default_factory=dict)


class _Clock:
    """Per-stage wall and CPU times in milliseconds; wall times are also observed in the stage histogram."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.timings = Timings()

    def run(self, stage: str, fn: Callable[[], Any]) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        result = fn()
        elapsed, cpu = time.perf_counter() - start, time.thread_time() - cpu
        self.metrics.stage_seconds.labels(stage=stage).observe(elapsed)
        setattr(self.timings, f"{stage}_ms", round(elapsed * 1000, 3))
        setattr(self.timings, f"{stage}_cpu_ms", round(cpu * 1000, 3))
        return result


class SearchPipeline:
    """Query -> moments; the snapshot is passed per call, so a reload never changes a call in flight."""

    def __init__(
        self,
        model: KairosModel,
        fingerprint: str,
        cache: Cache,
        metrics: Metrics,
        settings: Settings,
    ) -> None:
        self.model = model.eval()
        self.fingerprint = fingerprint
        self.cache = cache
        self.metrics = metrics
        self.stage1_mode = settings.stage1
        self.temperature = settings.softmax_temperature
        self.stage2_videos = settings.stage2_videos
        self.line_retrieval = settings.line_retrieval
        self.line_candidates = settings.line_candidates
        self.line_rrf_k = settings.line_rrf_k
        self.line_temperature = settings.line_temperature
        self.line_min_similarity = settings.line_min_similarity
        self.line_min_word_similarity = settings.line_min_word_similarity
        self.line_moments = settings.line_moments
        self._duration_cache: tuple[weakref.ref[Snapshot], np.ndarray] | None = None
        cache_dir = settings.query_encoder_dir or default_cache_dir()
        self.queries: QueryBackend = load_query_backend(model, settings.query_encoder, cache_dir)
        self.batcher = (
            MicroBatcher(self.queries.encode, settings.query_batch_wait_ms / 1000, settings.query_batch_max)
            if settings.query_batch_wait_ms > 0
            else None
        )
        self.memo = VectorMemo(settings.query_memo_size)
        # Line retrieval compares the text encoder's own sentence vector of the query with the lines'; for a
        # zero-shot model that is the query vector itself.
        self.sentences: QueryBackend | None = None
        if self.line_retrieval != "off" and not model.config.zero_shot:
            self.sentences = load_query_backend(model, settings.query_encoder, cache_dir, "sentence")

    # -- stages -------------------------------------------------------------------------------------------

    def encode(self, query: str) -> np.ndarray:
        """The query vector [D] float32: from the in-process memo, else Redis, else the encoder."""
        compute = self.batcher.encode if self.batcher else lambda text: self.queries.encode([text])[0]
        return self._remembered(query, self.fingerprint, "qvec", self.model.config.dim, compute)

    def encode_sentence(self, query: str, q: np.ndarray) -> np.ndarray:
        """The query's sentence vector [Dt] (`q` itself for a zero-shot model), remembered as `q` is."""
        if (sentences := self.sentences) is None:
            return q
        tag = f"{self.fingerprint}/sentence"
        return self._remembered(query, tag, "svec", sentences.dim, lambda text: sentences.encode([text])[0])

    def _remembered(
        self, query: str, tag: str, kind: str, dim: int, compute: Callable[[str], np.ndarray]
    ) -> np.ndarray:
        """A vector of the normalised query: the in-process memo (under `tag`), else Redis (`kind` keys),
        else `compute`, stored in both."""
        text = normalise_query(query)
        vector = self.memo.get(tag, text)
        if vector is not None:
            return vector
        key = cache_key(kind, self.fingerprint, text)
        vector = self.cache.get_vector(key, dim)
        if vector is None:
            vector = compute(text)
            self.cache.set_vector(key, vector)
        self.memo.put(tag, text, vector)
        return np.asarray(vector, dtype=np.float32)

    def stage1(
        self,
        snapshot: Snapshot,
        q: np.ndarray,
        k: int,
        video_ids: list[str] | None = None,
        query: str | None = None,
        streams: list[str] | None = None,
    ) -> Candidates:
        """Top-k candidate videos for the query vector [D], optionally only among `video_ids`; with the
        query text, also by the lines (of `streams`, default all) where line retrieval is on and possible."""
        if video_ids is not None:
            return self._score_videos(snapshot, q, k, video_ids)
        lines = snapshot.lines if self.line_retrieval != "off" and query is not None else None
        segments = (
            self._segment_candidates(snapshot, q, k)
            if self.line_retrieval != "only" or lines is None
            else None
        )
        if lines is None:
            assert segments is not None
            return segments
        by_line = self._line_candidates(lines, query or "", self.encode_sentence(query or "", q), streams)
        spans = by_line.spans if self.line_moments else {}
        if segments is not None and len(by_line.idx) == 0:  # no line close enough: the segments' ranking
            return segments
        if segments is None:
            return Candidates(by_line.idx[:k], by_line.scores[:k] * (self.line_rrf_k + 1), True, spans)
        idx, scores = rrf([segments.idx, by_line.idx], self.line_rrf_k)
        return Candidates(idx[:k], scores[:k] * (self.line_rrf_k + 1) / 2, True, spans)

    def _segment_candidates(self, snapshot: Snapshot, q: np.ndarray, k: int) -> Candidates:
        queries = q[None, :]
        if self.stage1_mode == "segments":
            scores, idx = snapshot.top_videos(queries, k)
        else:
            scores, idx = snapshot.search_videos(queries, k)
        found = idx[0] >= 0
        return Candidates(idx[0][found], scores[0][found])

    def _line_candidates(
        self, lines: LineIndex, query: str, sentence: np.ndarray, streams: list[str] | None
    ) -> Candidates:
        """Videos by their best line: lines by sentence vector (kept at cosine >= `line_min_similarity`) and
        by BM25 (kept at cosine >= `line_min_word_similarity`: words shared by chance are no evidence), fused
        per line by RRF; every line's span is a candidate moment of its video."""
        allowed = lines.allowed(streams)
        n = self.line_candidates
        rankings = [lines.search_vectors(sentence, n, allowed), lines.search_words(query, n, allowed)]
        gates = (self.line_min_similarity, self.line_min_word_similarity)
        close = [
            found[lines.similarity(found, sentence) >= gate]
            for found, gate in zip(rankings, gates, strict=True)
        ]
        found, scores = rrf(close, self.line_rrf_k)
        videos, best = best_per_group(found, lines.videos[found])
        spans: dict[int, list[tuple[float, float]]] = {}
        for line in found.tolist():
            spans.setdefault(int(lines.videos[line]), []).append(
                (float(lines.spans[line, 0]), float(lines.spans[line, 1]))
            )
        return Candidates(videos, scores[best], spans=spans)

    def _score_videos(self, snapshot: Snapshot, q: np.ndarray, k: int, video_ids: list[str]) -> Candidates:
        """Exact stage-1 scores of the given videos (a filter must not depend on FAISS recall)."""
        idx, scores = [], []
        for position, video_id in enumerate(dict.fromkeys(video_ids)):
            try:
                record = snapshot.record(video_id)
            except VideoNotFoundError:
                raise ApiError(
                    422, "unknown_video", f"video {video_id!r} is not indexed", f"video_ids.{position}"
                ) from None
            vectors = record.segments if self.stage1_mode == "segments" else record.video_vector[None, :]
            idx.append(snapshot.index_of(video_id))
            scores.append(float(np.max(np.asarray(vectors, dtype=np.float32) @ q)) if len(vectors) else -1.0)
        order = np.argsort(-np.asarray(scores), kind="stable")[:k]
        return Candidates(np.asarray(idx, dtype=np.int64)[order], np.asarray(scores, dtype=np.float32)[order])

    @torch.inference_mode()
    def stage2(
        self, snapshot: Snapshot, q: np.ndarray, candidates: Candidates, limit: int, bounds: MomentBounds
    ) -> list[Moment]:
        """Moments of the candidate videos, ranked by the combined score, at most `limit`.

        Only the best max(`limit`, `stage2_videos`) candidates are scored: measured on the held-out synthetic
        split, moments of lower-ranked videos did not change VCMR R@1 or R@10 (docs/NOTES.md), while
        the moment head's cost grows with every candidate's clips. They go through the moment head and the
        batched decoder in chunks, best video first. A moment's score is its video's weight times a moment
        score <= 1, so once `limit` moments score at least the next video's weight, no later video can enter
        the answer and the rest are skipped (exact: a later moment with an equal score would rank after them).
        """
        if len(candidates.idx) == 0:
            return []
        clip_seconds = snapshot.manifest.clip_seconds
        min_clips, max_clips = clip_bounds(bounds, clip_seconds)
        scores = candidates.scores.astype(np.float64)
        temperature = self.line_temperature if candidates.fused else self.temperature
        weights = np.exp((scores - scores.max()) / temperature)
        durations = self._durations(snapshot)
        budget = max(limit, self.stage2_videos)
        vectors: dict[int, np.ndarray] = {}  # candidate row -> clip vectors, for the rows scored
        for row, idx in enumerate(candidates.idx):
            if len(vectors) == budget:
                break
            if len(clips := snapshot.clip_vectors_at(int(idx))) >= min_clips:  # others have no span
                vectors[row] = clips
        rows = list(vectors)
        found: list[Found] = []
        done, chunk = 0, STAGE2_FIRST_CHUNK
        while done < len(rows):
            if len(kept := per_video(found, bounds.max_per_video)) >= limit:
                kth = kept[limit - 1][0]
                if kth >= weights[rows[done]]:
                    break
            part = rows[done : done + chunk]
            done += len(part)
            chunk *= 4
            decoded = self._decode(q, [vectors[row] for row in part], limit, min_clips, max_clips)
            for row, (spans, score_of) in zip(part, decoded, strict=True):
                duration = float(durations[int(candidates.idx[row])])
                moments = [(*spans_to_seconds(span, clip_seconds, duration), span.score) for span in spans]
                if found_lines := candidates.spans.get(int(candidates.idx[row])):
                    proposals = line_proposals(
                        found_lines, score_of, clip_seconds, duration, len(vectors[row])
                    )
                    moments = with_lines(moments, proposals)
                for start, end, moment_score in moments:
                    score = float(weights[row] * moment_score)
                    if end <= start or not in_bounds(end - start, bounds) or score < bounds.min_score:
                        continue
                    found.append((score, row, start, end, moment_score))
        found = per_video(found, bounds.max_per_video)[:limit]
        lines = {i: snapshot.lines_at(i) for i in {int(candidates.idx[row]) for _, row, *_ in found}}
        return [
            Moment(
                video_id=snapshot.video_ids[int(candidates.idx[row])],
                start=round(start, 3),
                end=round(end, 3),
                score=score,
                video_score=float(candidates.scores[row]),
                moment_score=float(moment_score),
                video_duration=round(float(durations[int(candidates.idx[row])]), 3),
                matched=matched_lines(
                    lines[int(candidates.idx[row])], clip_seconds, vectors[row], q, start, end
                ),
            )
            for score, row, start, end, moment_score in found
        ]

    def _decode(
        self, q: np.ndarray, vectors: list[np.ndarray], limit: int, min_clips: int, max_clips: int | None
    ) -> list[tuple[list[Span], SpanScorer]]:
        """Each video's best spans and the score of any of its spans: from the moment head, or (a `zero_shot`
        model) its similarity curve."""
        if self.model.config.zero_shot:
            curves = [clips.astype(np.float32) @ q for clips in vectors]
            return [
                (
                    similarity_moments(sims, limit, min_clips, max_clips, NMS_IOU),
                    similarity_span_scorer(sims),
                )
                for sims in curves
            ]
        lengths = [len(clips) for clips in vectors]
        unary, pair = self._moment_logits(q, vectors, lengths)
        decoded = decode_moments_batch(unary, pair, lengths, limit, min_clips, max_clips, NMS_IOU)
        return [
            (
                spans,
                span_scorer(unary[k, :n], None if pair is None else pair[k, : n - 1]),
            )
            for k, (spans, n) in enumerate(zip(decoded, lengths, strict=True))
        ]

    def _moment_logits(
        self, q: np.ndarray, vectors: list[np.ndarray], lengths: list[int]
    ) -> tuple[Tensor, Tensor | None]:
        """The moment head over the videos' clip vectors [n, D] float16, laid end to end (no padding work).

        Returns unary [K, C, 3] and pair [K, C-1, 3, 3] logits padded to the longest video, as the batched
        decoder reads them; a model trained without the second-order term gives no pair logits (as
        `KairosModel.decode_moments`).
        """
        clips = np.concatenate(vectors).astype(np.float32)  # float16 memory map -> float32, one copy
        device = self.model.device
        unary, pair = self.model.moment_head.score_videos(
            torch.tensor(q, dtype=torch.float32, device=device), torch.from_numpy(clips).to(device), lengths
        )
        return unary.float().cpu(), pair.float().cpu() if self.model.config.use_pair_term else None

    def _durations(self, snapshot: Snapshot) -> np.ndarray:
        """Video durations [N] in index order, read once per snapshot (not one SQLite query per candidate)."""
        cached = self._duration_cache
        if cached is not None and cached[0]() is snapshot:
            return cached[1]
        durations = np.zeros(len(snapshot), dtype=np.float64)
        for row in snapshot.videos():
            durations[row.idx] = row.duration
        self._duration_cache = (weakref.ref(snapshot), durations)
        return durations

    # -- requests -----------------------------------------------------------------------------------------

    def search(self, request: SearchRequest, snapshot: Snapshot) -> SearchResponse:
        """Both stages over the whole snapshot (or the `video_ids` given)."""
        return SearchResponse.model_validate_json(self.search_json(request, snapshot))

    def search_json(self, request: SearchRequest, snapshot: Snapshot) -> bytes:
        """`search`'s answer as the JSON the API sends."""

        def compute(clock: _Clock) -> SearchResponse:
            q = clock.run("encode", lambda: self.encode(request.query))
            candidates = clock.run(
                "stage1",
                lambda: self.stage1(
                    snapshot, q, request.top_k_videos, request.video_ids, request.query, request.streams
                ),
            )
            moments = clock.run(
                "stage2", lambda: self.stage2(snapshot, q, candidates, request.limit, request)
            )
            return SearchResponse(
                moments=moments, took_ms=0, snapshot=snapshot.version, cached=False, timings=clock.timings
            )

        return self._answer("search", request.model_dump(), snapshot, compute)

    def search_videos(self, request: VideoSearchRequest, snapshot: Snapshot) -> VideoSearchResponse:
        """Stage 1 only: the best videos for the query."""
        return VideoSearchResponse.model_validate_json(self.search_videos_json(request, snapshot))

    def search_videos_json(self, request: VideoSearchRequest, snapshot: Snapshot) -> bytes:
        """`search_videos`'s answer as the JSON the API sends."""

        def compute(clock: _Clock) -> VideoSearchResponse:
            q = clock.run("encode", lambda: self.encode(request.query))
            candidates = clock.run(
                "stage1",
                lambda: self.stage1(snapshot, q, request.limit, None, request.query, request.streams),
            )
            hits = [
                VideoHit(video_id=snapshot.video_ids[int(i)], score=float(s))
                for i, s in zip(candidates.idx, candidates.scores, strict=True)
            ]
            return VideoSearchResponse(
                videos=hits, took_ms=0, snapshot=snapshot.version, cached=False, timings=clock.timings
            )

        return self._answer("videos", request.model_dump(), snapshot, compute)

    def localize(self, video_id: str, request: LocalizeRequest, snapshot: Snapshot) -> SearchResponse:
        """Stage 2 in one video: its moments ranked by the moment score (the only candidate has weight 1)."""
        return SearchResponse.model_validate_json(self.localize_json(video_id, request, snapshot))

    def localize_json(self, video_id: str, request: LocalizeRequest, snapshot: Snapshot) -> bytes:
        """`localize`'s answer as the JSON the API sends."""
        snapshot.index_of(video_id)  # VideoNotFoundError -> 404 before any work

        def compute(clock: _Clock) -> SearchResponse:
            q = clock.run("encode", lambda: self.encode(request.query))
            candidates = clock.run("stage1", lambda: self.stage1(snapshot, q, 1, [video_id]))
            moments = clock.run(
                "stage2", lambda: self.stage2(snapshot, q, candidates, request.limit, request)
            )
            return SearchResponse(
                moments=moments, took_ms=0, snapshot=snapshot.version, cached=False, timings=clock.timings
            )

        payload = request.model_dump() | {"video_id": video_id}
        return self._answer("localize", payload, snapshot, compute)

    def _answer(
        self, kind: str, payload: dict[str, Any], snapshot: Snapshot, compute: Callable[[_Clock], Answer]
    ) -> bytes:
        """The answer's JSON: from the response cache as stored (no parsing, no re-serialising), or computed
        and stored; `took_ms`, always this call's time, is the last field, appended to the stored bytes."""
        start = time.perf_counter()
        payload = payload | {"query": normalise_query(payload["query"])}
        key = cache_key(
            kind,
            snapshot.version,
            self.fingerprint,
            self.stage1_mode,
            self.temperature,
            self.stage2_videos,
            (
                self.line_retrieval,
                self.line_candidates,
                self.line_rrf_k,
                self.line_temperature,
                self.line_min_similarity,
                self.line_min_word_similarity,
                self.line_moments,
            ),
            payload,
        )
        head = self.cache.get_bytes("response", key)
        if head is None:
            answer = compute(_Clock(self.metrics))
            head = json_head(answer)
            stored = answer.model_copy(update={"cached": True, "timings": Timings()})
            self.cache.set_bytes(key, json_head(stored))
        elapsed = time.perf_counter() - start
        self.metrics.stage_seconds.labels(stage="total").observe(elapsed)
        return head + f"{round(elapsed * 1000, 3)}}}".encode()


def json_head(answer: Answer) -> bytes:
    """The answer's JSON without `took_ms` and its closing brace, ending in `,"took_ms":`."""
    return answer.__pydantic_serializer__.to_json(answer, exclude={"took_ms"})[:-1] + b',"took_ms":'


def per_video(found: list[Found], cap: int | None) -> list[Found]:
    """Moments by score, best first (stable: ties keep video then span order), at most `cap` per video."""
    ranked = sorted(found, key=lambda f: -f[0])
    if cap is None:
        return ranked
    taken: dict[int, int] = {}
    kept = []
    for moment in ranked:
        if (n := taken.get(moment[1], 0)) < cap:
            taken[moment[1]] = n + 1
            kept.append(moment)
    return kept


def matched_lines(
    lines: list[Cue], clip_seconds: float, clips: np.ndarray, q: np.ndarray, start: float, end: float
) -> list[MatchedLine]:
    """The `lines` (every stream's, of one video) at the clip of [start, end) most similar to the query."""
    if not lines:
        return []
    first = int(start / clip_seconds + 1e-9)
    last = max(first + 1, math.ceil(end / clip_seconds - 1e-9))
    best = first + int(np.argmax(clips[first:last].astype(np.float32) @ q))
    at = (best + 0.5) * clip_seconds
    return [
        MatchedLine(stream=line.stream, text=line.text, start=line.start, end=line.end)
        for line in lines
        if line.start <= at < line.end
    ]


def line_proposals(
    lines: list[tuple[float, float]], score_of: SpanScorer, clip_seconds: float, duration: float, clips: int
) -> dict[tuple[float, float], Proposal]:
    """The lines (start, end seconds, best first) of a video of `clips` clips as moments, keyed by the span in
    seconds of the clips each covers (the first line of a span wins) and scored as the moment head scores
    those clips; lines outside the clips are left out."""
    out: dict[tuple[float, float], Proposal] = {}
    for start, stop in lines:
        end = min(stop, duration)
        first = int(start / clip_seconds + 1e-9)
        if end <= start or first >= clips:
            continue
        last = min(clips - 1, max(first, math.ceil(end / clip_seconds - 1e-9) - 1))
        cover = spans_to_seconds(Span(first, last, 0.0), clip_seconds, duration)
        if cover not in out:
            out[cover] = (start, end, score_of(first, last))
    return out


def with_lines(moments: list[Proposal], lines: dict[tuple[float, float], Proposal]) -> list[Proposal]:
    """A video's spans from the head with each line in place of the span of the clips it covers
    (`line_proposals`), then greedy NMS (IoU > NMS_IOU) by moment score; on equal scores a head's span goes
    first (stable sort), so a line never displaces a span the head scores as high."""
    merged = [m for m in moments if (m[0], m[1]) not in lines] + list(lines.values())
    out: list[Proposal] = []
    for moment in sorted(merged, key=lambda m: -m[2]):
        kept = np.array([m[:2] for m in out], dtype=np.float32).reshape(-1, 2)
        if not (temporal_iou(kept, np.array(moment[:2])) > NMS_IOU).any():
            out.append(moment)
    return out


def clip_bounds(bounds: MomentBounds, clip_seconds: float) -> tuple[int, int]:
    """Span length limits in clips for the decoder; refuses a maximum shorter than one clip."""
    if bounds.max_seconds is not None and bounds.max_seconds < clip_seconds:
        raise ApiError(
            422,
            "invalid_request",
            f"max_seconds must be at least one clip ({clip_seconds:g} s): moments are whole clips",
            "max_seconds",
        )
    min_clips = max(1, math.ceil((bounds.min_seconds or 0.0) / clip_seconds - 1e-9))
    max_clips = math.floor(bounds.max_seconds / clip_seconds + 1e-9) if bounds.max_seconds else 1_000_000
    return min_clips, max(min_clips, max_clips)


def in_bounds(seconds: float, bounds: MomentBounds) -> bool:
    low = bounds.min_seconds or 0.0
    high = bounds.max_seconds if bounds.max_seconds is not None else math.inf
    return low - 1e-6 <= seconds <= high + 1e-6

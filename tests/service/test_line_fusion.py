"""Stage 1 with line retrieval: a video found only by one of its lines becomes a candidate and its moment is
found; the `streams` filter; a snapshot without line vectors still searches (real model, FAISS, Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from indexer.cues import OCR, SUBTITLES, Cue
from indexer.encoding import VideoEncoder
from indexer.snapshot import SnapshotWriter, VideoRecord, open_snapshot
from models.model import KairosModel
from models.pretrained import model_fingerprint, resolve_model
from models.tvr_metrics import temporal_iou
from service.app import create_app
from service.cache import Cache, connect
from service.metrics import Metrics
from service.schemas import SearchRequest
from service.search import NMS_IOU, SearchPipeline, line_proposals, with_lines
from service.settings import Settings
from tests.conftest import TINY_MODEL

QUERY = "when does the ferry to zanzibar leave"
CLIPS = 8
LINES = {  # video -> its lines; only "d" tells of the ferry, on screen only
    "a": [Cue(0.0, 3.0, "the weather stays mild in Antwerp", SUBTITLES)],
    "b": [Cue(0.0, 3.0, "prices of bread went up again", SUBTITLES)],
    "c": [],
    "d": [
        Cue(6.0, 9.0, "the ferry to Zanzibar leaves at dawn", OCR),
    ],
}


Setup = tuple[KairosModel, str, np.ndarray]  # the model, its fingerprint, the query's vector


@pytest.fixture(scope="module")
def setup() -> Setup:
    model = resolve_model(TINY_MODEL).eval()
    q = model.encode_query(model.text_encoder([QUERY]))[0].detach().numpy()
    return model, model_fingerprint(model), q


def records(model: KairosModel, q: np.ndarray, vectors: bool = True) -> list[VideoRecord]:
    """Segment vectors near the query for a, b, c (in that order) and opposite to it for d."""
    encoder = VideoEncoder(model)
    rng = np.random.default_rng(0)
    out = []
    for i, (video_id, lines) in enumerate(LINES.items()):
        towards = -q if video_id == "d" else q * (1.0 - 0.1 * i)
        clips = towards + 0.3 * rng.normal(size=(CLIPS, len(q)))
        clips = (clips / np.linalg.norm(clips, axis=1, keepdims=True)).astype(np.float32)
        ranges = np.array([(s, s + 2) for s in range(0, CLIPS, 2)], dtype=np.int64)
        segments = np.stack([clips[s:e].mean(0) for s, e in ranges])
        out.append(
            VideoRecord(
                video_id=video_id,
                path=f"/media/{video_id}.mp4",
                duration=CLIPS * 1.5,
                content_hash=video_id,
                metadata={},
                clips=clips,
                segments=(segments / np.linalg.norm(segments, axis=1, keepdims=True)).astype(np.float32),
                segment_ranges=ranges,
                video_vector=clips.mean(0) / np.linalg.norm(clips.mean(0)),
                lines=lines,
                line_vectors=encoder.line_vectors(lines) if vectors else None,
            )
        )
    return out


@pytest.fixture(scope="module")
def roots(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A snapshot root with line vectors ("lines") and one without ("old")."""
    model, fingerprint, q = setup
    out = {}
    for name, vectors in (("lines", True), ("old", False)):
        root = tmp_path_factory.mktemp(name)
        with SnapshotWriter(root, fingerprint, len(q), 1.5) as writer:
            for record in records(model, q, vectors):
                writer.add_video(record)
            writer.publish()
        out[name] = root
    return out


def pipeline(setup: Setup, redis_url: str, **overrides: str) -> SearchPipeline:
    model, fingerprint, _ = setup
    settings = Settings.model_validate(
        {"model": TINY_MODEL, "redis_url": redis_url, "query_encoder": "torch"} | overrides
    )
    metrics = Metrics()
    cache = Cache(connect(redis_url, 1.0), metrics, 0, settings.redis_retry_s)
    return SearchPipeline(model, fingerprint, cache, metrics, settings)


def test_a_video_found_only_by_a_line_becomes_a_candidate(
    setup: Setup, roots: dict[str, Path], redis_url: str
) -> None:
    q = setup[2]
    with open_snapshot(roots["lines"]) as snap:
        d = snap.index_of("d")
        segments = pipeline(setup, redis_url, line_retrieval="off").stage1(snap, q, 3, query=QUERY)
        assert d not in segments.idx.tolist() and not segments.fused
        fused = pipeline(setup, redis_url).stage1(snap, q, 3, query=QUERY)
        assert d in fused.idx.tolist() and fused.fused
        lines_only = pipeline(setup, redis_url, line_retrieval="only").stage1(snap, q, 1, query=QUERY)
        assert lines_only.idx.tolist() == [d]
        lines = pipeline(setup, redis_url, line_retrieval="only")
        assert lines.stage1(snap, q, 1, query=QUERY, streams=[OCR]).idx.tolist() == [d]
        said = lines.stage1(snap, q, 3, query=QUERY, streams=[SUBTITLES]).idx.tolist()
        assert d not in said  # its one line is on screen, not said
        moments = pipeline(setup, redis_url).search(
            SearchRequest.model_validate({"query": QUERY, "top_k_videos": 3, "limit": 100}), snap
        )
        # its line's span, or a span around it that the (untrained) head scores at least as high
        assert any(
            temporal_iou(np.array([m.start, m.end]), np.array([6.0, 9.0])) > NMS_IOU
            for m in moments.moments
            if m.video_id == "d"
        )


@pytest.fixture
def client(roots: dict[str, Path], redis_url: str) -> Iterator[TestClient]:
    settings = Settings(
        snapshot_root=roots["lines"], model=TINY_MODEL, redis_url=redis_url, query_encoder="torch"
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_streams_field_limits_the_lines_that_match(client: TestClient) -> None:
    def videos(**extra: object) -> list[str]:
        answer = client.post("/v1/search/videos", json={"query": QUERY, "limit": 4} | extra)
        assert answer.status_code == 200, answer.text
        return [video["video_id"] for video in answer.json()["videos"]]

    assert "d" in videos()[:3]
    assert videos(streams=["ocr"])[0] == "d"
    assert videos(streams=["subtitles"])[-1] == "d"  # by its segments alone: last
    bad = client.post("/v1/search", json={"query": QUERY, "streams": ["Not A Stream"]})
    assert bad.status_code == 422 and bad.json()["error"]["field"].startswith("streams"), bad.text


def test_a_snapshot_without_line_vectors_still_searches(
    setup: Setup, roots: dict[str, Path], redis_url: str
) -> None:
    with open_snapshot(roots["old"]) as snap:
        assert snap.lines is None
        answer = pipeline(setup, redis_url).search(
            SearchRequest.model_validate({"query": QUERY, "top_k_videos": 3, "limit": 100}), snap
        )
    assert answer.moments and {m.video_id for m in answer.moments} <= {"a", "b", "c"}


def test_a_line_is_scored_as_the_head_scores_the_clips_it_covers(
    setup: Setup, roots: dict[str, Path], redis_url: str
) -> None:
    q = setup[2]
    with open_snapshot(roots["lines"]) as snap:
        clips = snap.clip_vectors_at(snap.index_of("d"))
    [(spans, score_of)] = pipeline(setup, redis_url)._decode(q, [clips], 100, 1, None)
    assert spans and all(score_of(s.start_clip, s.end_clip) == pytest.approx(s.score) for s in spans)
    lines = [
        (6.2, 8.4),
        (6.5, 8.0),
        (20.0, 22.0),
        (3.0, 3.0),
    ]  # the 2nd covers the 1st's clips; 3rd, 4th: none
    assert line_proposals(lines, score_of, 1.5, CLIPS * 1.5, CLIPS) == {
        (6.0, 9.0): (6.2, 8.4, score_of(4, 5))
    }


def test_a_line_takes_the_place_of_its_clips_span_and_the_scores_decide() -> None:
    head = [(0.0, 3.0, 0.9), (4.5, 9.0, 0.8), (12.0, 15.0, 0.2)]
    # the head's best span is the line's clips: the line gives its bounds
    assert with_lines(head, {(0.0, 3.0): (0.4, 2.6, 0.9)}) == [(0.4, 2.6, 0.9), *head[1:]]
    # the head prefers a span reaching past the line (weaker, or as strong): the line's span goes
    assert with_lines(head, {(6.0, 9.0): (6.2, 8.8, 0.5)}) == head
    assert with_lines(head, {(6.0, 9.0): (6.2, 8.8, 0.8)}) == head
    # a line away from the head's spans joins them by its score
    assert with_lines(head, {(18.0, 19.5): (18.2, 19.0, 0.3)}) == [*head[:2], (18.2, 19.0, 0.3), head[2]]

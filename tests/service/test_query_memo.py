"""The in-process query-vector memo: bounded LRU, and no re-encoding of repeat queries when Redis is down."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexer.snapshot import open_snapshot
from models.pretrained import model_fingerprint, resolve_model
from service.cache import Cache, connect
from service.memo import VectorMemo
from service.metrics import Metrics
from service.schemas import LocalizeRequest, SearchRequest, VideoSearchRequest
from service.search import SearchPipeline
from service.settings import Settings
from tests.conftest import TINY_MODEL, Corpus, free_port


def test_lru_bounded_keyed_by_fingerprint_and_copies() -> None:
    memo = VectorMemo(2)
    memo.put("f1", "a", np.zeros(3))
    memo.put("f1", "b", np.ones(3))
    assert memo.get("f2", "a") is None  # another model never reads this one's vectors
    got = memo.get("f1", "a")  # "a" is now the most recent
    assert got is not None and got.dtype == np.float32
    got[:] = 7  # a caller's change stays with the caller
    memo.put("f1", "c", np.full(3, 2.0))
    assert memo.get("f1", "b") is None and len(memo) == 2
    again = memo.get("f1", "a")
    assert again is not None and again.tolist() == [0.0, 0.0, 0.0]
    off = VectorMemo(0)
    off.put("f1", "a", np.zeros(3))
    assert off.get("f1", "a") is None and len(off) == 0


class Counting:
    """The pipeline's real query backend, counting the texts it encodes."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray]) -> None:
        self.inner = encode
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += texts
        return self.inner(texts)


def pipeline_without_redis(tmp_path: Path, memo_size: int, **settings: object) -> SearchPipeline:
    """The service's pipeline with Redis unreachable (nothing listens on the port) and the cache on."""
    config = Settings(
        model=TINY_MODEL,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        query_memo_size=memo_size,
        query_encoder_dir=tmp_path,
        **settings,  # type: ignore[arg-type]
    )
    model = resolve_model(TINY_MODEL).eval()
    metrics = Metrics()
    cache = Cache(connect(config.redis_url, config.redis_timeout_s), metrics, 3600, config.redis_retry_s)
    return SearchPipeline(model, model_fingerprint(model), cache, metrics, config)


def test_repeat_queries_are_not_re_encoded_when_redis_is_down(corpus: Corpus, tmp_path: Path) -> None:
    snapshot = open_snapshot(corpus.root)
    video = snapshot.video_ids[0]
    for memo_size, expected in ((16, ["a red circle spins"]), (0, ["a red circle spins"] * 3)):
        pipeline = pipeline_without_redis(tmp_path, memo_size, query_encoder="onnx-fp32")
        counting = Counting(pipeline.queries.encode)
        pipeline.queries.encode = counting  # type: ignore[method-assign]
        # what `kairos eval` asks for one query: VCMR, SVMR and VR
        found = pipeline.search(SearchRequest(query="a red circle spins", video_ids=None), snapshot)
        pipeline.localize(video, LocalizeRequest(query=" a  red circle spins"), snapshot)
        pipeline.search_videos(VideoSearchRequest(query="a red circle spins "), snapshot)
        assert found.moments and counting.texts == expected
    assert np.array_equal(pipeline.encode("x"), pipeline.encode("x"))


def test_micro_batched_pipeline_gives_the_unbatched_vectors(tmp_path: Path) -> None:
    batched = pipeline_without_redis(tmp_path, 0, query_batch_wait_ms=2.0)
    plain = pipeline_without_redis(tmp_path, 0)
    assert batched.batcher is not None and plain.batcher is None
    for text in ("a red circle spins", "something grows"):
        assert np.abs(batched.encode(text) - plain.encode(text)).max() < 1e-5
    batched.batcher.close()

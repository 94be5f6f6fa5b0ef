"""The real-photo check: videos of photographs that scikit-image ships, found by hand-written queries.

`kairos-real` (ImageNet EfficientNet-Lite0's class names as each clip's words, no training on this data) is
indexed and evaluated as `kairos index` + `kairos eval` do; the synthetic-trained `kairos-small` beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.evaluate import evaluate
from indexer.pipeline import IndexOptions, index
from indexer.snapshot import open_snapshot
from indexer.synth.photos import write_photo_corpus
from models.pretrained import model_fingerprint, resolve_model
from service.cache import Cache, connect
from service.metrics import Metrics
from service.schemas import SearchRequest
from service.search import SearchPipeline
from service.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_photo_corpus(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def real_root(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real-index")
    index(root, [str(corpus.parent.parent / "videos")], "kairos-real", IndexOptions())
    return root


def test_kairos_real_finds_most_photographs_and_kairos_small_does_not(
    corpus: Path, real_root: Path, tmp_path: Path
) -> None:
    real = float(evaluate(real_root, corpus, None, "kairos-real")["VCMR"]["0.5-r1"])
    index(tmp_path, [str(corpus.parent.parent / "videos")], "kairos-small", IndexOptions())
    small = float(evaluate(tmp_path, corpus, None, "kairos-small")["VCMR"]["0.5-r1"])
    print(f"real-photo check, VCMR R@1 IoU 0.5: kairos-real {real:.1f}, kairos-small {small:.1f}")
    assert real >= 50.0
    assert real > small


def test_a_moment_says_what_was_seen(real_root: Path) -> None:
    model = resolve_model("kairos-real")
    settings = Settings(query_encoder="torch")
    metrics = Metrics()
    cache = Cache(connect(settings.redis_url, settings.redis_timeout_s), metrics, ttl_s=0, retry_s=60)
    pipeline = SearchPipeline(model, model_fingerprint(model), cache, metrics, settings)
    with open_snapshot(real_root) as snap:
        first = pipeline.search(
            SearchRequest(query="a cup of coffee", limit=1, video_ids=None), snap
        ).moments[0]
    assert (first.video_id, first.start, first.end) == ("photos_0", 6.0, 12.0)
    [line] = first.matched
    assert line.stream == "concepts" and "espresso" in line.text and line.start <= 6.0 < 12.0 <= line.end

"""The bundled `kairos-small` as shipped: its files are the ones its config describes, it finds moments in a
corpus it never saw (the `make demo` one, drawn with another seed than its training corpus), and the demo's
example queries find theirs through the HTTP API, as the demo's curl lines send them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from safetensors.torch import load_file

from commands.demo import DEMO_MODEL, example_queries, generate, index_demo
from commands.evaluate import evaluate
from indexer.snapshot import open_snapshot
from models.checkpoint import WEIGHTS, read_checkpoint_config, state_bytes
from models.files import file_sha256
from models.pretrained import WEIGHTS_DIR, model_fingerprint, resolve_model
from models.registry import get_config
from models.tvr_metrics import temporal_iou
from service.app import create_app
from service.settings import Settings

DEMO_VIDEOS = 4  # `kairos demo --videos 4`: the demo's corpus and code, a third of its size, to be fast
# Floors well under what the bundled model scored here on 6 Dec 2026 (66 queries; VR R@1 84.8, VCMR R@1 at
# IoU 0.5 81.8, R@10 97.0, visual-only VCMR R@1 75.0; chance VR R@1 is 25 with 4 videos), so a retrained
# model passes, and one that no longer sees (visual-only queries) or ranks videos does not.
FLOORS = {
    ("VR", "r1"): 60.0,
    ("VCMR", "0.5-r1"): 50.0,
    ("VCMR", "0.5-r10"): 80.0,
    ("VCMR_by_type", "v-0.5-r1"): 40.0,
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus and its index, made as `kairos demo` makes them."""
    root = tmp_path_factory.mktemp("demo")
    generate(root, DEMO_VIDEOS)
    index_demo(root, progress=False)
    return root


def test_the_weights_are_the_ones_its_config_describes() -> None:
    folder = WEIGHTS_DIR / DEMO_MODEL
    meta = read_checkpoint_config(folder)
    model = resolve_model(DEMO_MODEL)
    assert meta["sha256"] == file_sha256(folder / WEIGHTS)
    assert meta["config_hash"] == model.config.config_hash() == get_config(DEMO_MODEL).config_hash()
    digest = hashlib.sha256(meta["config_hash"].encode())  # the fingerprint, from the files alone
    for chunk in state_bytes(load_file(str(folder / WEIGHTS))):
        digest.update(chunk)
    assert model_fingerprint(model) == digest.hexdigest()[:16]


def test_it_finds_moments_in_a_corpus_it_never_saw(demo: Path, tmp_path: Path) -> None:
    with open_snapshot(demo / "index") as snapshot:
        assert snapshot.manifest.model_hash == model_fingerprint(resolve_model(DEMO_MODEL))
    files = sorted((demo / "corpus" / "annotations").glob("*.jsonl"))
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(path.read_text() for path in files))
    metrics = evaluate(demo / "index", queries, None, DEMO_MODEL)
    assert metrics["queries"]["excluded"] == 0
    for (task, key), floor in FLOORS.items():
        assert metrics[task][key] >= floor, f"{task} {key}: {metrics[task][key]} < {floor}"


@pytest.fixture(scope="module")
def api(demo: Path, redis_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(Settings(snapshot_root=demo / "index", model=DEMO_MODEL, redis_url=redis_url))
    ) as client:
        yield client


def test_the_example_queries_find_their_moments(demo: Path, api: TestClient) -> None:
    examples = example_queries(demo / "corpus")
    assert sorted(row["type"] for row in examples) == ["t", "v", "vt"]
    for row in examples:
        answer = api.post("/v1/search", json={"query": row["desc"], "limit": 3})
        assert answer.status_code == 200, answer.text
        spans = [[m["start"], m["end"]] for m in answer.json()["moments"] if m["video_id"] == row["vid_name"]]
        best = temporal_iou(np.array(spans).reshape(-1, 2), np.array(row["ts"])).max(initial=0.0)
        assert best >= 0.5, (
            f"{row['desc']!r}: no top-3 moment in {row['vid_name']} at IoU >= 0.5 with {row['ts']}"
        )

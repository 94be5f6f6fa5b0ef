"""`kairos eval` end to end: a real snapshot, the real search pipeline with the tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from commands.evaluate import EvalError, evaluate, read_queries
from commands.evaluation import format_table
from indexer.snapshot import SnapshotWriter, VideoRecord, open_snapshot
from models.pretrained import model_fingerprint, resolve_model
from models.tvr_metrics import DESC_TYPES, MAX_PREDICTIONS, RECALL_TOPKS
from tests.conftest import TINY_MODEL, Corpus

N_VIDEOS = 12
N_CLIPS = 24


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _record(i: int, dim: int, rng: np.random.Generator) -> VideoRecord:
    clips = _unit(rng.normal(size=(N_CLIPS, dim)))
    ranges = [(s, s + w) for w in (2, 4) for s in range(0, N_CLIPS - w + 1, w)]
    return VideoRecord(
        video_id=f"vid{i:02d}",
        path=f"/media/vid{i:02d}.mp4",
        duration=N_CLIPS * 1.5,
        content_hash=f"sha-{i}",
        metadata={},
        clips=clips,
        segments=_unit(np.stack([clips[s:e].mean(0) for s, e in ranges])),
        segment_ranges=np.array(ranges, dtype=np.int64),
        video_vector=_unit(clips.mean(0)),
    )


@pytest.fixture(scope="module")
def snapshot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A published snapshot of random unit vectors, tagged with the tiny model's fingerprint."""
    model = resolve_model(TINY_MODEL)
    root = tmp_path_factory.mktemp("index")
    rng = np.random.default_rng(0)
    with SnapshotWriter(root, model_fingerprint(model), model.config.dim, 1.5) as writer:
        for i in range(N_VIDEOS):
            writer.add_video(_record(i, model.config.dim, rng))
        writer.publish()
    return root


def _write_queries(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_eval_on_the_indexed_test_corpus(corpus: Corpus, tmp_path: Path) -> None:
    """The test corpus indexed with the tiny model, its own annotations, plus one query of another video."""
    rows = [*corpus.annotations, {"desc_id": -1, "desc": "elsewhere", "vid_name": "nowhere", "ts": [0, 1]}]
    out = tmp_path / "preds" / "preds.json"
    result = evaluate(corpus.root, _write_queries(tmp_path / "q.jsonl", rows), out, TINY_MODEL)

    assert result["queries"]["evaluated"] == len(corpus.annotations) and result["queries"]["excluded"] == 1
    assert list(result)[:6] == ["VCMR", "SVMR", "VR", "VCMR_by_type", "SVMR_by_type", "VR_by_type"]
    assert set(result["VCMR"]) == {f"{t}-r{k}" for t in (0.5, 0.7) for k in RECALL_TOPKS}
    assert set(result["VR"]) == {f"r{k}" for k in RECALL_TOPKS}
    assert result["VR"]["r100"] == 100.0  # a handful of videos: the ground-truth one is always among them
    table = format_table(result)
    assert "| VCMR | all | 0.5 |" in table and table.endswith(
        "1 excluded (their video is not in the snapshot)."
    )

    preds = json.loads(out.read_text())
    with open_snapshot(corpus.root) as snap:
        assert preds["video2idx"] == {video_id: i for i, video_id in enumerate(snap.video_ids)}
    gt_video = {row["desc_id"]: preds["video2idx"][row["vid_name"]] for row in corpus.annotations}
    for task in ("VCMR", "SVMR", "VR"):
        assert [e["desc_id"] for e in preds[task]] == list(gt_video)
        for entry in preds[task]:
            assert 1 <= len(entry["predictions"]) <= MAX_PREDICTIONS
            assert all(len(p) == 4 and 0 <= p[0] < len(preds["video2idx"]) for p in entry["predictions"])
            assert task == "VR" or all(p[1] < p[2] for p in entry["predictions"])
    for entry in preds["SVMR"]:
        assert {p[0] for p in entry["predictions"]} == {gt_video[entry["desc_id"]]}  # the ground-truth video
    for entry in preds["VR"]:
        assert (
            len({p[0] for p in entry["predictions"]}) == len(entry["predictions"]) == len(preds["video2idx"])
        )


def test_at_most_100_predictions(snapshot_root: Path, tmp_path: Path) -> None:
    """12 videos x 24 clips hold far more than 100 moments: VCMR keeps the best 100, from several videos."""
    rows = [{"desc_id": 7, "desc": "a man opens a door", "vid_name": "vid03", "ts": [3.0, 9.0]}]
    out = tmp_path / "preds.json"
    result = evaluate(snapshot_root, _write_queries(tmp_path / "q.jsonl", rows), out, TINY_MODEL)
    assert "VCMR_by_type" not in result  # no query type, no breakdown
    vcmr = json.loads(out.read_text())["VCMR"][0]["predictions"]
    assert len(vcmr) == MAX_PREDICTIONS and len({p[0] for p in vcmr}) > 1
    scores = [p[3] for p in vcmr]
    assert scores == sorted(scores, reverse=True)


def test_no_query_in_the_snapshot_is_an_error(snapshot_root: Path, tmp_path: Path) -> None:
    rows = [{"desc_id": 1, "desc": "x", "vid_name": "nowhere", "ts": [0, 1]}]
    with pytest.raises(EvalError, match="none of the 1 queries"):
        evaluate(snapshot_root, _write_queries(tmp_path / "q.jsonl", rows), None, TINY_MODEL)


def test_a_snapshot_of_another_model_is_an_error(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path / "index", "another-model", 32, 1.5) as writer:
        writer.add_video(_record(0, 32, np.random.default_rng(0)))
        writer.publish()
    rows = [{"desc_id": 1, "desc": "x", "vid_name": "vid00", "ts": [0, 1]}]
    with pytest.raises(EvalError, match="built with model hash 'another-model'.*'kairos-tiny'"):
        evaluate(tmp_path / "index", _write_queries(tmp_path / "q.jsonl", rows), None, TINY_MODEL)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"desc_id": 2, "desc": "b", "vid_name": "v"', "not valid JSON"),
        ('{"desc_id": 2, "desc": "b", "ts": [0, 1]}', "missing field"),
        ('{"desc_id": 2, "desc": "b", "vid_name": "v", "ts": [5, 1]}', "ts must be"),
        ('{"desc_id": 1, "desc": "b", "vid_name": "v", "ts": [0, 1]}', "query id 1 repeats line 1"),
        ('{"desc_id": 2, "desc": "b", "vid_name": "v", "ts": [0, 1], "type": "x"}', "type must be"),
    ],
)
def test_a_bad_line_names_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"desc_id": 1, "desc": "a", "vid_name": "v", "ts": [0, 1]}\n\n' + line + "\n")
    with pytest.raises(EvalError, match=rf"q\.jsonl:3: .*{message}"):
        read_queries(path)


def test_format_table() -> None:
    vcmr = {f"{t}-r{k}": float(k) for t in (0.5, 0.7) for k in RECALL_TOPKS}
    by_type: dict[str, Any] = {f"{d}-r{k}": None for d in DESC_TYPES for k in RECALL_TOPKS}
    by_type["desc_type_ratio"] = "v 100.0 t 0.0 vt 0.0"
    table = format_table({"VCMR": vcmr, "VR": {f"r{k}": 50.0 for k in RECALL_TOPKS}, "VR_by_type": by_type})
    lines = table.splitlines()
    assert len(lines) == 2 + 2 + 1 + 3 + 2
    assert lines[0] == "| task | type | IoU | R@1 | R@5 | R@10 | R@100 |"
    assert "| VCMR | all | 0.5 | 1.00 | 5.00 | 10.00 | 100.00 |" in lines
    assert "| VR | all | – | 50.00 | 50.00 | 50.00 | 50.00 |" in lines
    assert "| VR | t | – | – | – | – | – |" in lines
    assert lines[-1] == "Query types (percent): v 100.0 t 0.0 vt 0.0."

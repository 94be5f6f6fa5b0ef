"""`kairos index|train --model clip:DIR` end to end: a tiny random CLIP saved to disk, real video files, the
real CLI, the service's search pipeline; and the errors a user sees instead of a stack trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from commands.cli import app
from indexer.snapshot import open_snapshot
from models.pretrained import model_fingerprint, resolve_model
from models.registry import create_model
from service.cache import Cache, connect
from service.metrics import Metrics
from service.schemas import SearchRequest
from service.search import SearchPipeline
from service.settings import Settings
from tests.conftest import Corpus, free_port
from tests.factories import tiny_clip_dir, write_video

SAID = "a red circle spins"


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clip_dir(tmp_path_factory.mktemp("clip"))


def test_zero_shot_clip_index_then_search(clip_dir: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for i, seconds in enumerate((4.0, 6.0, 5.0)):
        write_video(videos / f"v{i}.mp4", seconds=seconds, width=96, height=64)
    (videos / "v1.srt").write_text(f"1\n00:00:03,000 --> 00:00:04,400\n{SAID}\n")
    spec = f"clip:{clip_dir}"
    result = CliRunner().invoke(
        app, ["index", str(videos), "--out", str(tmp_path / "index"), "--model", spec, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["indexed"]) == 3 and not report["failed"], report
    settings = Settings(
        model=spec,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        query_encoder="onnx-int8",
        query_encoder_dir=tmp_path / "onnx",
    )
    model = resolve_model(spec).eval()  # what `kairos serve` loads for KAIROS_MODEL=clip:DIR
    fingerprint = model_fingerprint(model)
    snapshot = open_snapshot(tmp_path / "index")
    assert snapshot.manifest.model_hash == fingerprint
    metrics = Metrics()
    cache = Cache(connect(settings.redis_url, settings.redis_timeout_s), metrics, 0, settings.redis_retry_s)
    pipeline = SearchPipeline(model, fingerprint, cache, metrics, settings)
    moments = pipeline.search(SearchRequest(query=SAID, limit=5, video_ids=None), snapshot).moments
    assert moments and moments[0].video_id == "v1"  # the subtitle, through CLIP's text tower, is found
    assert 3.0 - 1.5 <= moments[0].start < moments[0].end <= 6.0
    assert all(0 < m.score <= 1 for m in moments)


def test_kairos_train_over_a_frozen_clip_tower(clip_dir: Path, corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "model"
    args = ["train", "--corpus", str(corpus.folder), "--out", str(out), "--model", f"clip:{clip_dir}"]
    args += ["--annotations", str(corpus.folder / "annotations" / "train.jsonl"), "--epochs", "1"]
    args += ["--set", "visual_pretrain_epochs=0", "--set", "freeze_visual_after=4"]
    result = CliRunner().invoke(app, [*args, "--batch", "2", "--cache", str(tmp_path / "cache"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs_run"] == 1
    trained = resolve_model(str(out))
    assert not trained.config.zero_shot and trained.config.text_model == "minilm"
    assert trained.config.clip_vision is not None and trained.config.clip_vision["hidden_size"] == 32
    torch.manual_seed(0)  # what `kairos train --seed 0` started from
    start = create_model(f"clip:{clip_dir}")
    towers = [n for n in start.state_dict() if n.startswith("visual.tower.")]
    assert towers and all(torch.equal(start.state_dict()[n], trained.state_dict()[n]) for n in towers)
    head = [n for n in start.state_dict() if n.startswith("moment_head.")]
    assert any(not torch.equal(start.state_dict()[n], trained.state_dict()[n]) for n in head)


@pytest.mark.parametrize("command", ["index", "train"])
def test_a_hub_id_offline_is_one_error_line(command: str, tmp_path: Path, offline_hub: Path) -> None:
    (tmp_path / "videos").mkdir()
    args = {
        "index": ["index", str(tmp_path / "videos"), "--out", str(tmp_path / "index")],
        "train": [
            "train",
            "--corpus",
            str(tmp_path),
            "--annotations",
            str(tmp_path / "a.jsonl"),
            "--out",
            str(tmp_path / "m"),
        ],
    }[command]
    result = CliRunner().invoke(app, [*args, "--model", "clip:openai/clip-vit-base-patch32"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: cannot load CLIP weights 'openai/clip-vit-base-patch32'")
    assert "hf download openai/clip-vit-base-patch32 --local-dir DIR" in result.stderr


def test_kairos_clip_b32_without_weights_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "videos").mkdir()
    args = ["index", str(tmp_path / "videos"), "--out", str(tmp_path / "index"), "--model", "kairos-clip-b32"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error: model 'kairos-clip-b32' has no trained weights")
    assert not (tmp_path / "index" / "CURRENT").exists()

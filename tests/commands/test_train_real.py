"""`kairos train --model kairos-real` trains the parts that its zero-shot mode leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commands.cli import app
from indexer.pipeline import IndexOptions, index
from indexer.snapshot import open_snapshot
from models.pretrained import resolve_model

pytestmark = pytest.mark.slow


def test_training_kairos_real_turns_its_zero_shot_mode_off(tmp_path: Path) -> None:
    runner = CliRunner()
    corpus = tmp_path / "corpus"
    synth = ["synth", "--videos", "4", "--seed", "5", "--min-duration", "10", "--max-duration", "12"]
    assert runner.invoke(app, [*synth, "--out", str(corpus)]).exit_code == 0
    out = tmp_path / "trained"
    train = [
        "train",
        "--corpus",
        str(corpus),
        "--annotations",
        str(corpus / "annotations" / "train.jsonl"),
        "--model",
        "kairos-real",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch",
        "2",
        "--visual-pretrain-epochs",
        "0",
    ]
    result = runner.invoke(app, train)
    assert result.exit_code == 0, result.output
    architecture = json.loads((out / "config.json").read_text())["architecture"]
    assert architecture["visual"] == "efficientnet-lite0" and architecture["zero_shot"] is False
    model = resolve_model(str(out))
    assert not model.config.zero_shot and model.subtitle_gate is not None
    index(tmp_path / "index", [str(corpus / "videos")], str(out), IndexOptions())
    with open_snapshot(tmp_path / "index") as snap:
        assert len(snap) == 4 and any(cue.stream == "concepts" for cue in snap.lines_at(0))

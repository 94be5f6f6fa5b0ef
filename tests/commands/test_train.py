"""The `kairos train` command line recorded in a checkpoint reproduces the run's options."""

from __future__ import annotations

import shlex
from pathlib import Path

from commands.train import _command
from indexer.dataset import FeatureSource
from models.train import TrainConfig


def test_the_recorded_command_names_the_visual_warm_up_only_when_used() -> None:
    corpus, annotations, out = Path("c"), Path("c/a.jsonl"), Path("o")
    config = TrainConfig(epochs=3, freeze_visual_after=0, visual_pretrain_epochs=10)
    args = shlex.split(_command(corpus, annotations, out, "kairos-small", None, config, None))
    assert args[args.index("--visual-pretrain-epochs") + 1] == "10"
    assert args[args.index("--freeze-visual-after") + 1] == "0"
    plain = _command(corpus, annotations, out, "kairos-small", None, TrainConfig(), None)
    assert "--visual-pretrain-epochs" not in plain


def test_the_recorded_command_of_a_features_folder_names_it_and_its_rate() -> None:
    source, annotations, out = FeatureSource(Path("f"), 0.5), Path("q.jsonl"), Path("o")
    args = shlex.split(_command(source, annotations, out, "kairos-tiny", None, TrainConfig(), None))
    assert args[2:6] == ["--features", "f", "--features-fps", "0.5"] and "--corpus" not in args
    assert "--features-fps" not in _command(
        FeatureSource(Path("f")), annotations, out, "m", None, TrainConfig(), None
    )

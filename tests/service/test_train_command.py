"""The `kairos train` command line recorded in a checkpoint reproduces the run's options."""

from __future__ import annotations

import shlex
from pathlib import Path

from models.train import TrainConfig
from service.train_command import _command


def test_the_recorded_command_names_the_visual_warm_up_only_when_used() -> None:
    corpus, annotations, out = Path("c"), Path("c/a.jsonl"), Path("o")
    config = TrainConfig(epochs=3, freeze_visual_after=0, visual_pretrain_epochs=10)
    args = shlex.split(_command(corpus, annotations, out, "kairos-small", None, config, None))
    assert args[args.index("--visual-pretrain-epochs") + 1] == "10"
    assert args[args.index("--freeze-visual-after") + 1] == "0"
    plain = _command(corpus, annotations, out, "kairos-small", None, TrainConfig(), None)
    assert "--visual-pretrain-epochs" not in plain

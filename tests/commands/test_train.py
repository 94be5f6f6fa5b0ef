"""A run is data: the recorded command line and recipe reproduce its settings; TrainConfig's defaults are the
bundled model's recipe."""

from __future__ import annotations

import dataclasses
import json
import shlex
from pathlib import Path

import pytest

from commands.train import (
    MACHINE_SETTINGS,
    _command,
    read_recipe,
    recipe,
    train_config,
    write_recipe,
)
from indexer.dataset import FeatureSource
from models.train import TrainConfig

BUNDLED = Path(__file__).resolve().parents[2] / "models" / "weights" / "kairos-small"


def test_the_recorded_command_sets_exactly_the_settings_that_differ_from_the_defaults() -> None:
    corpus, annotations, out = Path("c"), Path("c/a.jsonl"), Path("o")
    config = TrainConfig(epochs=3, visual_pretrain_epochs=10, train_parts="query", device="cuda")
    args = shlex.split(_command(corpus, annotations, out, "kairos-small", None, config, None, Path("m")))
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    assert sets == ["epochs=3", "visual_pretrain_epochs=10", 'train_parts="query"']
    assert args[args.index("--init") + 1] == "m"
    assert "--set" not in _command(corpus, annotations, out, "kairos-small", None, TrainConfig(), None)


def test_the_recorded_command_of_a_features_folder_names_it_and_its_rate() -> None:
    source, annotations, out = FeatureSource(Path("f"), 0.5), Path("q.jsonl"), Path("o")
    args = shlex.split(_command(source, annotations, out, "kairos-tiny", None, TrainConfig(), None))
    assert args[2:6] == ["--features", "f", "--features-fps", "0.5"] and "--corpus" not in args
    assert "--features-fps" not in _command(
        FeatureSource(Path("f")), annotations, out, "m", None, TrainConfig(), None
    )


def test_a_recipe_holds_every_setting_and_reads_back(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "annotations").mkdir(parents=True)
    (corpus / "corpus.json").write_text(json.dumps({"config": {"videos": 3, "seed": 7}}))
    config = TrainConfig(epochs=2, rewordings=3)
    data = recipe("kairos-tiny", None, config, corpus, corpus / "annotations" / "train.jsonl", None)
    path = write_recipe(tmp_path, data)
    back = read_recipe(path)
    assert back["data"] == {"synth": {"videos": 3, "seed": 7}, "annotations": "annotations/train.jsonl"} | {
        "val_annotations": None
    }
    assert train_config(back["train"]) == dataclasses.replace(config, device="cpu", progress=True)
    assert set(back["train"]) == {f.name for f in dataclasses.fields(TrainConfig)} - set(MACHINE_SETTINGS)


def test_a_recipe_with_an_unknown_or_mistyped_setting_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"model": "m", "train": {"epoch": 3}, "data": {}}))
    with pytest.raises(ValueError, match="unknown training setting.*epoch"):
        read_recipe(path)
    path.write_text(json.dumps({"model": "m", "train": {"epochs": "3"}, "data": {}}))
    with pytest.raises(ValueError, match="epochs='3': expected int"):
        read_recipe(path)


def test_train_config_defaults_are_the_bundled_models_from_scratch_recipe() -> None:
    stage = read_recipe(BUNDLED / "recipe.json")
    while isinstance(stage.get("init"), dict):  # a fine-tune: its init is the recipe it started from
        stage = stage["init"]
    assert stage["init"] is None
    assert train_config(stage["train"]) == TrainConfig()

"""Checkpoint round trips (CNN and CLIP models) and every way a checkpoint can be bad."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.model import KairosModel
from models.registry import create_model, get_config, list_models
from tests.factories import tiny_clip_dir

torch.set_num_threads(1)


def outputs(model: KairosModel) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (6, 96, 128, 3), dtype=torch.uint8, generator=gen)
    with torch.no_grad():
        feats = model.encode_frames(frames).view(3, 2, -1)  # [C*F,Dv] -> [C,F,Dv]
        enc = model.encode_video(feats, torch.ones(3, 2, dtype=torch.bool), None, None)
        unary, pair = model.moment_head(enc.video[None], enc.clips[None], torch.ones(1, 3, dtype=torch.bool))
    return torch.cat([enc.clips.flatten(), enc.video, unary.flatten(), pair.flatten()])


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(create_model("kairos-tiny"), tmp_path / "ckpt", extra={"seed": 7, "r@1": 0.5})


def test_registry() -> None:
    assert {"kairos-small", "kairos-clip-b32", "kairos-tiny"} <= set(list_models())
    with pytest.raises(KeyError, match="kairos-small"):
        create_model("no-such-model")


def test_round_trip_same_outputs(saved: Path) -> None:
    torch.manual_seed(0)
    original = create_model("kairos-tiny").eval()
    loaded = load_checkpoint(saved)
    assert not loaded.training and loaded.config == original.config
    torch.testing.assert_close(outputs(loaded), outputs(original))
    meta = json.loads((saved / "config.json").read_text())
    assert meta["extra"] == {"seed": 7, "r@1": 0.5} and meta["preprocessing"]["clip_seconds"] == 1.5
    assert meta["config_hash"] == original.config.config_hash()


def test_missing_directory_and_files(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(CheckpointError, match="directory not found"):
        load_checkpoint(tmp_path / "nowhere")
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: missing"):
        load_checkpoint(saved)
    (saved / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json: missing"):
        load_checkpoint(saved)


def edit_config(directory: Path, **architecture: object) -> None:
    meta = json.loads((directory / "config.json").read_text())
    meta["architecture"].update(architecture)
    (directory / "config.json").write_text(json.dumps(meta))


def test_unreadable_or_foreign_config(saved: Path) -> None:
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable config"):
        load_checkpoint(saved)
    (saved / "config.json").write_text(json.dumps({"hidden": 32}))
    with pytest.raises(CheckpointError, match="not a Kairos checkpoint"):
        load_checkpoint(saved)


def test_unknown_architecture(saved: Path) -> None:
    edit_config(saved, visual="resnet50")
    with pytest.raises(CheckpointError, match="unknown visual backbone spec 'resnet50'"):
        load_checkpoint(saved)
    edit_config(saved, visual="cnn", layers_of_magic=3)
    with pytest.raises(CheckpointError, match="layers_of_magic"):
        load_checkpoint(saved)


def rewrite_weights(directory: Path, change: dict[str, torch.Tensor | None]) -> None:
    """Replace/add (tensor) or drop (None) tensors; forget the checksum so the shape checks are reached."""
    state = load_file(str(directory / "model.safetensors"))
    for key, value in change.items():
        if value is None:
            del state[key]
        else:
            state[key] = value
    save_file(state, str(directory / "model.safetensors"))
    meta = json.loads((directory / "config.json").read_text())
    del meta["sha256"]
    (directory / "config.json").write_text(json.dumps(meta))


def test_dimension_mismatch_names_the_tensor(saved: Path) -> None:
    rewrite_weights(saved, {"hero.out_proj.weight": torch.zeros(16, 32)})
    with pytest.raises(
        CheckpointError, match=r"hero\.out_proj\.weight: checkpoint \(16, 32\), model \(32, 32\)"
    ):
        load_checkpoint(saved)


def test_missing_and_unexpected_keys_are_listed(saved: Path) -> None:
    rewrite_weights(saved, {"hero.cls": None, "extra.head": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"missing keys: hero\.cls.*unexpected keys: extra\.head"):
        load_checkpoint(saved)


def test_config_and_weights_that_disagree(saved: Path) -> None:
    edit_config(saved, hidden=64)
    with pytest.raises(CheckpointError, match="dimension mismatch for"):
        load_checkpoint(saved)


def test_corrupt_weights(saved: Path) -> None:
    weights = saved / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256 differs"):
        load_checkpoint(saved)
    weights.write_bytes(b"garbage")
    meta = json.loads((saved / "config.json").read_text())
    del meta["sha256"]
    (saved / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        load_checkpoint(saved)


def test_clip_checkpoint_reloads_without_the_tower_dir(tmp_path: Path) -> None:
    clip_dir = tiny_clip_dir(tmp_path)
    config = dataclasses.replace(get_config("kairos-tiny"), visual=f"clip:{clip_dir}")
    model = create_model(config).eval()
    save_checkpoint(model, tmp_path / "ckpt")
    shutil.rmtree(clip_dir)
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config.clip_vision == model.config.clip_vision
    torch.testing.assert_close(outputs(loaded), outputs(model))

"""Model architectures are data: JSON configs in `models/configs/`, found by name."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

from models.config import ModelConfig
from models.model import KairosModel


def _config_files() -> dict[str, str]:
    folder = resources.files("models") / "configs"
    return {
        entry.name.removesuffix(".json"): entry.read_text()
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }


def list_models() -> list[str]:
    """Names of the registered architectures, sorted."""
    return sorted(_config_files())


def get_config(name: str) -> ModelConfig:
    """The registered config called `name`, or for "clip:<dir-or-id>" the trainable CLIP recipe over that
    folder's tower (`clip_config`); KeyError naming the known ones otherwise."""
    if name.startswith("clip:"):
        return clip_config(name.removeprefix("clip:"), zero_shot=False)
    files = _config_files()
    if name not in files:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(files))}")
    return ModelConfig.from_dict(json.loads(files[name]))


def clip_config(source: str, zero_shot: bool) -> ModelConfig:
    """The `kairos-clip-b32` recipe over the CLIP in `source` (a folder or hub id, `models.clip`), its frames
    letterboxed to the tower's square input. Zero-shot: both CLIP towers, every size CLIP's projection dim."""
    from transformers import CLIPConfig

    from models.clip import clip_folder

    clip = CLIPConfig.from_pretrained(clip_folder(source)).to_dict()
    side, spec = int(clip["vision_config"]["image_size"]), f"clip:{source}"
    config = ModelConfig.from_dict(json.loads(_config_files()["kairos-clip-b32"]))
    config = dataclasses.replace(
        config, name=spec, visual=spec, clip_vision=None, frame_width=side, frame_height=side
    )
    if not zero_shot:
        return config
    dim = int(clip["projection_dim"])
    return dataclasses.replace(
        config, text_model=spec, text_dim=dim, visual_dim=dim, dim=dim, zero_shot=True, dropout=0.0
    )


def create_model(name_or_config: str | ModelConfig) -> KairosModel:
    """A randomly initialised model from a registered name or a config (a CLIP tower: see ModelConfig)."""
    config = get_config(name_or_config) if isinstance(name_or_config, str) else name_or_config
    return KairosModel(config)

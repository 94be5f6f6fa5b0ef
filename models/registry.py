"""Model architectures are data: JSON configs in `models/configs/`, found by name."""

from __future__ import annotations

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
    """The registered config called `name` (KeyError naming the known ones otherwise)."""
    files = _config_files()
    if name not in files:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(files))}")
    return ModelConfig.from_dict(json.loads(files[name]))


def create_model(name_or_config: str | ModelConfig) -> KairosModel:
    """A randomly initialised model from a registered name or a config (a CLIP tower: see ModelConfig)."""
    config = get_config(name_or_config) if isinstance(name_or_config, str) else name_or_config
    return KairosModel(config)

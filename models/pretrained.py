"""Models find their own weights: a name or folder -> a loaded `KairosModel`, and the fingerprint of one.

Bundled checkpoints lie in `models/weights/<name>/` (config.json + model.safetensors, a MODEL_CARD.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from models.checkpoint import load_checkpoint, state_bytes
from models.config import ModelError
from models.model import KairosModel
from models.registry import clip_config, create_model, get_config, list_models

DEFAULT_MODEL = "kairos-real"  # for a user's own videos; the synthetic demo names kairos-small
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"  # bundled checkpoints, one folder a name
RANDOM_INIT_SEED = 0
TEST_MODEL = "kairos-tiny"  # the test model: random weights on purpose


def resolve_model(spec: str = DEFAULT_MODEL) -> KairosModel:
    """A checkpoint dir (with config.json); a registry name with its bundled weights; "clip:<dir-or-id>" as
    zero-shot CLIP search (`models.registry.clip_config`); or a `zero_shot` registry name or the test model,
    built with seeded random weights (a zero-shot model uses none of its trainable ones).

    Anything else would serve random weights: a `ModelError` naming what to supply instead.
    """
    path = Path(spec).expanduser()
    if (path / "config.json").is_file():
        return load_checkpoint(path)
    bundled = WEIGHTS_DIR / spec
    if (bundled / "config.json").is_file():
        return load_checkpoint(bundled)
    if spec.startswith("clip:"):
        config = clip_config(spec.removeprefix("clip:"), zero_shot=True)
    elif spec in list_models():
        config = get_config(spec)
    else:
        raise ModelError(
            f"model {spec!r} is neither a checkpoint folder (with config.json), 'clip:<dir>' nor a "
            f"registered model ({', '.join(list_models())})"
        )
    if not (config.zero_shot or spec == TEST_MODEL):
        raise ModelError(
            f"model {spec!r} has no trained weights (no checkpoint folder {path}, nothing bundled in "
            f"{bundled}) and would search with random ones: train it (`kairos train --model {spec} --out "
            "DIR`, or `--model clip:CLIP_DIR`) and pass --model DIR, or search zero-shot with clip:CLIP_DIR"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        return create_model(config)


def model_fingerprint(model: KairosModel) -> str:
    """sha256 (16 hex) over the config hash and every parameter and buffer: names, dtypes, shapes, bytes."""
    digest = hashlib.sha256(model.config.config_hash().encode())
    for chunk in state_bytes(model.state_dict()):
        digest.update(chunk)
    return digest.hexdigest()[:16]

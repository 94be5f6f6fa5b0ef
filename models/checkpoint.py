"""Checkpoints: a directory with `model.safetensors` (weights, no pickles) and `config.json` beside it.

config.json = {"format", "version", "config_hash", "sha256" (of model.safetensors), "architecture"
(ModelConfig), "extra" (training data seed, metrics, ...)} plus the preprocessing facts a reader needs without
the training code (clip_seconds, fps, frame size, dims).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from models.config import ModelConfig
from models.files import atomic_write, file_sha256
from models.model import KairosModel

FORMAT = "kairos-checkpoint"
VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class CheckpointError(Exception):
    """A checkpoint that cannot be loaded; the message names the directory and what is wrong."""


def state_bytes(state: Mapping[str, torch.Tensor], prefix: str = "") -> Iterator[bytes]:
    """What a content hash of tensors reads: per tensor, sorted by name, its (prefixed) name, dtype and shape,
    then its raw bytes; for `models.pretrained.model_fingerprint` and the ONNX export key."""
    for name, tensor in sorted(state.items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        yield f"\x00{prefix}{name}\x00{flat.dtype}\x00{tuple(tensor.shape)}\x00".encode()
        yield flat.view(torch.uint8).numpy().tobytes()


def save_checkpoint(model: KairosModel, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write `model.safetensors` + `config.json` into `directory` (created); returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = model.config
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    weights = directory / WEIGHTS
    metadata = {"format": FORMAT, "config_hash": config.config_hash()}
    atomic_write(weights, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "config_hash": config.config_hash(),
        "sha256": file_sha256(weights),
        "architecture": config.to_dict(),
        "preprocessing": {
            "fps": config.fps,
            "clip_seconds": config.clip_seconds,
            "frame_size": [config.frame_width, config.frame_height],
            "text_model": config.text_model,
        },
        "dims": {"text": config.text_dim, "visual": config.visual_dim, "joint": config.dim},
        "extra": extra or {},
    }
    atomic_write(directory / CONFIG, json.dumps(meta, indent=2, sort_keys=True, default=str).encode())
    return directory


def read_checkpoint_config(directory: str | Path) -> dict[str, Any]:
    """The parsed `config.json` of a checkpoint (CheckpointError when missing or unreadable)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"checkpoint directory not found: {directory}")
    path = directory / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{path}: missing (a checkpoint needs {CONFIG} and {WEIGHTS})")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable config ({exc})") from exc
    valid = (
        isinstance(meta, dict) and meta.get("format") == FORMAT and isinstance(meta.get("architecture"), dict)
    )
    if not valid:
        raise CheckpointError(
            f"{path}: not a Kairos checkpoint config (needs format={FORMAT!r}, architecture)"
        )
    return meta


def _check_state(path: Path, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    """Raise CheckpointError listing missing/unexpected keys and naming every shape mismatch."""
    problems = []
    if missing := sorted(set(expected) - set(found)):
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected := sorted(set(found) - set(expected)):
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    for key in sorted(set(expected) & set(found)):
        if expected[key].shape != found[key].shape:
            problems.append(
                f"dimension mismatch for {key}: checkpoint {tuple(found[key].shape)}, "
                f"model {tuple(expected[key].shape)}"
            )
    if problems:
        raise CheckpointError(f"{path}: does not fit its architecture; " + "; ".join(problems))


def load_checkpoint(directory: str | Path, device: torch.device | str = "cpu") -> KairosModel:
    """Rebuild the model from `config.json` and load `model.safetensors` into it (eval mode, on `device`)."""
    directory = Path(directory)
    meta = read_checkpoint_config(directory)
    weights = directory / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{weights}: missing (a checkpoint needs {CONFIG} and {WEIGHTS})")
    try:
        config = ModelConfig.from_dict(meta["architecture"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / CONFIG}: unknown or invalid architecture ({exc})") from exc
    if (checksum := meta.get("sha256")) is not None and checksum != file_sha256(weights):
        raise CheckpointError(f"{weights}: sha256 differs from the one in {CONFIG} (corrupt or replaced)")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({exc})") from exc
    try:
        model = KairosModel(config)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{directory}: cannot build architecture {config.name!r} ({exc})") from exc
    _check_state(weights, model.state_dict(), state)
    model.load_state_dict(state)
    return model.to(device).eval()

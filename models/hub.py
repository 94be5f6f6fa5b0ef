"""Weights from the Hugging Face hub by id, offline-safe: one clear error when the hub cannot supply them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from models.config import ModelError

# What a transformers model folder needs (config, safetensors weights, tokenizer files); never pickles.
HUB_FILES = ("*.json", "model*.safetensors*", "merges.txt", "vocab.json")


def hub_folder(source: str, what: str, use: str, patterns: Sequence[str] = HUB_FILES) -> Path:
    """The hub cache folder of id `source` (downloaded when online), else a ModelError that names the id and
    how to supply a local folder: `what` names the weights ("CLIP weights"), `use` the spec ("clip:DIR")."""
    from huggingface_hub import snapshot_download

    offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
    try:
        return Path(snapshot_download(source, allow_patterns=list(patterns), local_files_only=offline))
    except Exception as exc:  # hub errors vary (offline, no network, unknown id, bad id): one message for all
        why = "HF_HUB_OFFLINE is set" if offline else f"{type(exc).__name__}: no network, or no such id"
        raise ModelError(
            f"cannot load {what} {source!r}: it is not a local folder and the hub could not supply it "
            f"({why}). On a machine with a network run `hf download {source} --local-dir DIR`, copy DIR "
            f"here and use {use}"
        ) from None

"""Real CLIP weights: `clip:<dir-or-hub-id>` -> a local folder -> a transformers `CLIPModel` (both towers).

A hub id is fetched with `huggingface_hub` (and cached) where a network exists; offline it is one
`ModelError` that names the id and how to supply a local folder instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ModelError
from models.encoders import TextEncoder, TextFeatures
from models.hub import hub_folder

if TYPE_CHECKING:
    from transformers import CLIPModel

# What a transformers CLIP folder needs: config, safetensors weights (sharded or not), tokenizer files.


def clip_folder(source: str) -> Path:
    """A local folder as it is; a hub id -> its snapshot folder in the hub cache (downloaded when online)."""
    path = Path(source).expanduser()
    return _checked(path if path.is_dir() else hub_folder(source, "CLIP weights", "clip:DIR"))


def _checked(folder: Path) -> Path:
    """`folder` when its config.json describes a CLIP (model_type "clip"), else a ModelError."""
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(f"CLIP folder {folder} has no config.json (save it with CLIPModel.save_pretrained)")
    if (kind := json.loads(config.read_text()).get("model_type")) != "clip":
        raise ModelError(f"{folder} holds a {kind!r} model, not a CLIP (model_type 'clip' in config.json)")
    return folder


def load_clip(folder: Path) -> CLIPModel:
    """The frozen (eval, no gradients) `CLIPModel` saved in `folder` (see `clip_folder`); every weight must be
    there (a missing one would be random)."""
    from transformers import CLIPModel

    try:
        loaded = CLIPModel.from_pretrained(folder, output_loading_info=True)  # (model, loading info)
        model, info = cast("tuple[CLIPModel, dict[str, list[str]]]", loaded)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a CLIPModel from {folder}: {exc}") from None
    if missing := sorted(info["missing_keys"]):
        raise ModelError(f"{folder} lacks {len(missing)} CLIP weights ({', '.join(missing[:3])}, ...)")
    return model.eval().requires_grad_(False)


class CLIPText(nn.Module):
    """CLIP's text tower + text projection: token ids and mask [B,L] -> normalised CLIP text vectors [B,P]."""

    def __init__(self, clip: CLIPModel) -> None:
        super().__init__()
        self.tower = clip.text_model
        self.projection = clip.text_projection

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        pooled = self.tower(input_ids=input_ids, attention_mask=attention_mask).pooler_output  # [B,hidden]
        return F.normalize(self.projection(pooled), dim=-1)


class CLIPTextEncoder(TextEncoder):
    """The frozen `CLIPText` of `clip:<source>` as a text encoder. Each text is one token, its CLIP vector, so
    `pooled` (and the mean pooling of `subtitle_vectors`) is the vector CLIP compares with images."""

    def __init__(self, source: str, device: torch.device | str = "cpu") -> None:
        from transformers import AutoTokenizer

        folder = clip_folder(source)
        clip = load_clip(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = CLIPText(clip).to(device)
        shape = clip.config.to_dict()
        self.max_length = int(shape["text_config"]["max_position_embeddings"])
        self.projection_dim = int(shape["projection_dim"])

    @property
    def dim(self) -> int:
        return self.projection_dim

    @torch.no_grad()
    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """CLIP text vectors as one token per text [B,1,P]."""
        return self.model(batch["input_ids"], batch["attention_mask"])[:, None]

    def features(self, batch: dict[str, Tensor]) -> TextFeatures:
        vectors = self.forward(batch)  # [B,1,P]
        return TextFeatures(vectors, torch.ones_like(vectors[..., 0], dtype=torch.bool), vectors[:, 0])

"""The model configuration: one dataclass passed down to every module, saved as JSON beside the weights."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

# Fields that do not change what a trained model computes at inference; left out of `config_hash()`.
_NOT_ARCHITECTURE = ("name", "dropout")
# Fields added after models were bundled, left out of `config_hash()` at these values (what those models
# compute), so the hashes of older checkpoints, and the snapshots keyed by them, stay valid.
_LATER_DEFAULTS: dict[str, Any] = {
    "cnn_glimpse": False,
    "motion_cues": False,
    "concepts": 0,
    "concept_floor": 0.0,
    "zero_shot": False,
    "query_skip": False,
}
VISUAL_SPECS = ("cnn", "efficientnet-lite0")  # besides "clip:<dir-or-id>"

# CLIPVisionConfig fields that fix the shape of a CLIP vision tower (what `clip_vision` records).
CLIP_SHAPE_KEYS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_channels",
    "image_size",
    "patch_size",
    "hidden_act",
    "layer_norm_eps",
)


class ModelError(ValueError):
    """A model that cannot be built or served as asked; the message says what to supply instead."""


@dataclass
class ModelConfig:
    """Architecture and preprocessing of a Kairos model. Defaults describe `kairos-small` but the last two.

    `visual` is "cnn" (the built-in CNN), "efficientnet-lite0" (the frozen ImageNet network, 1280-d features;
    `models.efficientnet`) or "clip:<dir-or-id>" (a transformers CLIP vision tower). `text_model` is "minilm",
    a local dir or id of a sentence transformer, or "clip:<dir-or-id>" (CLIP's text tower, `models.clip`).
    `clip_vision` holds the CLIP tower's shape (`CLIP_SHAPE_KEYS`): when set, the tower is built from it
    with random weights (a Kairos checkpoint then supplies them); when None, the tower and its weights are
    loaded from <dir-or-id> and the model records the shape here, so its checkpoints reload without that dir.
    `subtitle_skip` adds to each clip vector the query encoder's vector of the clip's own subtitle text (a
    learnt gate scales it), so what is said reaches the joint space unchanged by the fusion transformers.
    `head_hidden` is the moment head's width (None: `hidden`). `cnn_glimpse` adds a glimpse branch to the
    built-in CNN (see `models.encoders.CNNBackbone`); `motion_cues` (needs it) also passes each frame's raw
    glimpse cues to the clip level, where a small MLP reads them across the clip's frames
    (`models.hero.MotionReader`). All four default to what models trained before they existed compute, so
    their checkpoints load unchanged.
    `concepts` (needs "efficientnet-lite0") joins each clip's `concepts` most probable ImageNet class names of
    at least `concept_floor` (its frames' mean probability) to the clip's text: visual concepts as words.
    `zero_shot` uses no trained part: a clip's vector is the text encoder's vector of the clip's text, a
    query's the text encoder's vector of the query, and moments come from the per-clip similarity curve
    (`models.moment.similarity_moments`); it needs dim == text_dim. With a CLIP tower (`clip_zero_shot`) the
    text encoder is the same CLIP's text tower (text_model == visual) and a clip's vector also holds the
    normalised mean of its frames' CLIP image vectors (`models.clip`).
    `query_skip` adds to each query vector a linear map of the text encoder's sentence vector, scaled by a
    learnt gate (zero at first): the query side keeps the encoder's meaning for words its head never saw
    (`models.hero.QueryEncoder`); subtitle vectors (`subtitle_skip`) do not take it, so a query-side
    fine-tune of the skip alone leaves the clip vectors of existing snapshots as they were.
    """

    name: str = "kairos-small"
    text_model: str = "minilm"
    visual: str = "cnn"
    clip_vision: dict[str, Any] | None = None
    frame_width: int = 128
    frame_height: int = 96
    fps: float = 2.0
    clip_seconds: float = 1.5
    frames_per_clip: int = 3
    text_dim: int = 384
    visual_dim: int = 256
    hidden: int = 256
    dim: int = 256
    heads: int = 4
    clip_layers: int = 2
    video_layers: int = 2
    max_sub_tokens: int = 32
    window: int = 64
    segment_scales: list[int] = field(default_factory=lambda: [2, 4, 8])
    dropout: float = 0.1
    use_subtitles: bool = True
    use_temporal: bool = True
    use_pair_term: bool = True
    subtitle_skip: bool = False
    head_hidden: int | None = None
    cnn_glimpse: bool = False
    motion_cues: bool = False
    concepts: int = 0
    concept_floor: float = 0.0
    zero_shot: bool = False
    query_skip: bool = False

    def __post_init__(self) -> None:
        if self.visual not in VISUAL_SPECS and not (self.visual.startswith("clip:") and len(self.visual) > 5):
            raise ValueError(
                f"unknown visual backbone spec {self.visual!r}: "
                f"use {', '.join(VISUAL_SPECS)} or 'clip:<dir-or-id>'"
            )
        if self.hidden % self.heads:
            raise ValueError(f"hidden={self.hidden} is not divisible by heads={self.heads}")
        if self.window < 2:
            raise ValueError(f"window={self.window} must be at least 2 clips")
        if not self.segment_scales or min(self.segment_scales) < 1:
            raise ValueError(f"segment_scales={self.segment_scales} must be positive clip counts")
        if self.clip_vision is not None and (unknown := set(self.clip_vision) - set(CLIP_SHAPE_KEYS)):
            raise ValueError(f"clip_vision has unknown keys {sorted(unknown)}")
        sizes = ("frame_width", "frame_height", "frames_per_clip", "text_dim", "visual_dim", "hidden", "dim")
        for key in sizes:
            if getattr(self, key) < 1:
                raise ValueError(f"{key}={getattr(self, key)} must be positive")
        if self.motion_cues and not (self.visual == "cnn" and self.cnn_glimpse):
            raise ValueError("motion_cues needs the built-in CNN with its glimpse: visual 'cnn', cnn_glimpse")
        if self.concepts < 0 or not 0.0 <= self.concept_floor < 1.0:
            raise ValueError(
                f"concepts={self.concepts} must be >= 0 and concept_floor={self.concept_floor} in [0, 1)"
            )
        if self.concepts and self.visual != "efficientnet-lite0":
            raise ValueError("concepts needs the ImageNet backbone: visual 'efficientnet-lite0'")
        if self.zero_shot and self.dim != self.text_dim:
            raise ValueError(f"zero_shot needs dim == text_dim (the text encoder's space), got {self.dim}")
        if self.clip_zero_shot and (self.text_model != self.visual or self.visual_dim != self.dim):
            raise ValueError("zero_shot with a CLIP tower needs text_model == visual and visual_dim == dim")
        if self.head_hidden is not None and self.head_hidden < 1:
            raise ValueError(f"head_hidden={self.head_hidden} must be positive")

    @property
    def clip_zero_shot(self) -> bool:
        """Zero-shot over both towers of one CLIP: frame vectors live in the query's space."""
        return self.zero_shot and self.visual.startswith("clip:")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict; unknown keys are an error (ValueError), missing keys take the defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(data) - known):
            raise ValueError(f"unknown model config field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))

    def config_hash(self) -> str:
        """Short sha256 hex of the canonical JSON of the architecture fields (see `_NOT_ARCHITECTURE`)."""
        fields = {
            k: v
            for k, v in self.to_dict().items()
            if k not in _NOT_ARCHITECTURE and not (k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k])
        }
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

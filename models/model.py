"""KairosModel: visual backbone + hierarchical encoder + query encoder + moment head, from one ModelConfig."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ModelConfig
from models.encoders import CLIPBackbone, TextEncoder, TextFeatures, build_visual
from models.hero import HierarchicalEncoder, QueryEncoder, SentenceQuery
from models.moment import MomentHead, Span, decode_moments


@dataclass
class VideoEncoding:
    """One video in the joint space: clips [C,D], segments [S,D] + ranges [S,2] (end exclusive), video [D]."""

    clips: Tensor
    segments: Tensor
    segment_ranges: Tensor
    video: Tensor


def load_text_encoder(config: ModelConfig, device: torch.device | str = "cpu") -> TextEncoder:
    """The frozen text encoder a model was built for (`config.text_model`; "clip:..." is CLIP's)."""
    if config.text_model.startswith("clip:"):
        from models.clip import CLIPTextEncoder

        return CLIPTextEncoder(config.text_model.removeprefix("clip:"), device=device)
    return TextEncoder(config.text_model, device=device)


class KairosModel(nn.Module):
    """All trainable parts of Kairos. The frozen text encoder is not a submodule and not in the checkpoint."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.visual = build_visual(config.visual, config)
        if isinstance(self.visual, CLIPBackbone):  # record the tower's shape: checkpoints rebuild it offline
            config = dataclasses.replace(config, clip_vision=dict(self.visual.shape))
        self.config = config
        self.hero = HierarchicalEncoder(config)
        self.query: QueryEncoder | SentenceQuery = (
            SentenceQuery() if config.zero_shot else QueryEncoder(config)
        )
        self.moment_head = MomentHead(config)
        self.subtitle_gate = (
            nn.Parameter(torch.ones(()))
            if config.subtitle_skip and config.use_subtitles and not config.zero_shot
            else None
        )
        self._text_encoder: TextEncoder | None = None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def text_encoder(self) -> TextEncoder:
        """The frozen text encoder of `config.text_model`, loaded on first use and kept on `self.device`."""
        if self._text_encoder is None:
            self._text_encoder = load_text_encoder(self.config, self.device)
        elif self._text_encoder.device != self.device:
            self._text_encoder.to(self.device)
        return self._text_encoder

    def encode_frames(self, frames: Tensor) -> Tensor:
        """uint8 frames [N,H,W,3] -> frame features [N,Dv]."""
        return self.visual.encode(frames)

    def clip_level(
        self, frame_feats: Tensor, frame_mask: Tensor, sub_tokens: Tensor | None, sub_mask: Tensor | None
    ) -> Tensor:
        return self.hero.clip_level(frame_feats, frame_mask, sub_tokens, sub_mask)

    def video_level(self, clip_states: Tensor, clip_mask: Tensor) -> Tensor:
        return self.hero.video_level(clip_states, clip_mask)

    def add_said(self, clips: Tensor, said: Tensor | None) -> Tensor:
        """Clip vectors [...,D] plus the gated `said` [...,D] (`subtitle_vectors`), renormalised."""
        if self.subtitle_gate is None or said is None:
            return clips
        return F.normalize(clips + self.subtitle_gate * said, dim=-1)

    def subtitle_vectors(self, sub_tokens: Tensor, sub_mask: Tensor) -> Tensor | None:
        """Subtitle tokens [N,L,Dt] + mask [N,L] -> each clip's text as the query encoder sees it [N,D].

        Zeros for clips without text; None when the model has no `subtitle_skip` (and is not `zero_shot`).
        """
        if self.subtitle_gate is None and not self.config.zero_shot:
            return None
        text = TextEncoder.postprocess(sub_tokens, sub_mask)  # the mean pooling the text encoder does
        said = self.query(text, skip=False)  # [N,D]
        return said * text.mask.any(dim=1, keepdim=True).to(said.dtype)

    def segments(self, clips: Tensor) -> tuple[Tensor, Tensor]:
        return self.hero.segments(clips)

    def video_vector(self, clips: Tensor, clip_mask: Tensor) -> Tensor:
        return self.hero.video_vector(clips, clip_mask)

    def clip_concepts(self, frame_feats: Tensor, frame_mask: Tensor) -> list[list[tuple[str, float]]]:
        """Frame features [C,F,1280] + mask [C,F] -> per clip its `config.concepts` ImageNet classes (name,
        probability), from the mean class probabilities of its frames; [] per clip when concepts are off."""
        if not self.config.concepts:
            return [[] for _ in range(len(frame_feats))]
        from models.efficientnet import EfficientNetBackbone, top_labels

        if not isinstance(self.visual, EfficientNetBackbone):
            raise TypeError("visual concepts need the efficientnet-lite0 backbone")
        probs = frame_mean(self.visual.class_probs(frame_feats), frame_mask)  # [C,1000]
        return [top_labels(row, self.config.concepts, self.config.concept_floor) for row in probs]

    def encode_query(self, text: TextFeatures) -> Tensor:
        """Text features of B queries -> query vectors [B,dim], normalised."""
        return self.query(text)

    def decode_moments(
        self,
        unary: Tensor,
        pair: Tensor | None,
        top_n: int = 10,
        min_clips: int = 1,
        max_clips: int | None = None,
        nms_iou: float = 0.5,
    ) -> list[Span]:
        """`models.moment.decode_moments` for one video; the pair term is dropped when the model has none."""
        pair = pair if self.config.use_pair_term else None
        return decode_moments(unary, pair, top_n, min_clips, max_clips, nms_iou)

    @torch.no_grad()
    def encode_video(
        self,
        frame_feats: Tensor,
        frame_mask: Tensor,
        sub_tokens: Tensor | None = None,
        sub_mask: Tensor | None = None,
        chunk: int = 256,
    ) -> VideoEncoding:
        """One whole video (C clips) for the index; clip level runs `chunk` clips at a time (bounded memory).

        frame_feats [C,F,Dv], frame_mask [C,F], sub_tokens [C,L,Dt], sub_mask [C,L].
        """
        c = frame_feats.shape[0]
        if c == 0:
            raise ValueError("cannot encode a video with no clips")
        if self.config.zero_shot:
            return self._encode_zero_shot(frame_feats, frame_mask, sub_tokens, sub_mask)
        states = torch.cat(
            [
                self.hero.clip_level(
                    frame_feats[i : i + chunk],
                    frame_mask[i : i + chunk],
                    None if sub_tokens is None else sub_tokens[i : i + chunk],
                    None if sub_mask is None else sub_mask[i : i + chunk],
                )
                for i in range(0, c, chunk)
            ]
        )  # [C,H]
        clip_mask = torch.ones(1, c, dtype=torch.bool, device=states.device)
        said = None if sub_tokens is None or sub_mask is None else self.subtitle_vectors(sub_tokens, sub_mask)
        clips = self.add_said(self.hero.video_level(states[None], clip_mask)[0], said)[None]  # [1,C,D]
        segments, ranges = self.hero.segments(clips[0])
        video = self.hero.video_vector(clips, clip_mask)[0]
        return VideoEncoding(clips=clips[0], segments=segments, segment_ranges=ranges, video=video)

    def _encode_zero_shot(
        self, frame_feats: Tensor, frame_mask: Tensor, sub_tokens: Tensor | None, sub_mask: Tensor | None
    ) -> VideoEncoding:
        """The zero-shot encoding of C clips: each clip is its text's sentence vector (zeros without text),
        plus, with a CLIP tower (`clip_zero_shot`), the normalised mean of its frames' CLIP vectors, the sum
        renormalised; segments and the video are their normalised means."""
        said = None if sub_tokens is None or sub_mask is None else self.subtitle_vectors(sub_tokens, sub_mask)
        clips = torch.zeros(len(frame_feats), self.config.dim, device=self.device) if said is None else said
        if self.config.clip_zero_shot:
            seen = frame_mean(frame_feats, frame_mask)  # [C,D]
            clips = F.normalize(F.normalize(seen, dim=-1) + clips, dim=-1)
        segments, ranges = self.hero.segments(clips)
        return VideoEncoding(
            clips=clips, segments=segments, segment_ranges=ranges, video=F.normalize(clips.sum(0), dim=0)
        )


def frame_mean(values: Tensor, frame_mask: Tensor) -> Tensor:
    """Per clip, the mean over its real frames: values [C,F,X] + mask [C,F] -> [C,X] (0 without frames)."""
    weights = frame_mask.to(values.dtype)[..., None]  # [C,F,1]
    return (values * weights).sum(1) / weights.sum(1).clamp(min=1.0)

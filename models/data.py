"""Training data as plain tensors: videos (clips of frames + subtitle features), queries with gold spans.

`indexer.dataset` builds these from a corpus folder; `models.train` consumes them. Nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from models.encoders import TextFeatures


@dataclass
class VideoData:
    """One video cut into C clips.

    frames: uint8 [C, F, H, W, 3] (or precomputed frame features float [C, F, Dv]); frame_mask bool [C, F];
    sub_tokens [C, L, Dt] (float16 or float32) of the subtitle text overlapping each clip; sub_mask [C, L].
    """

    name: str
    duration: float
    frames: Tensor
    frame_mask: Tensor
    sub_tokens: Tensor
    sub_mask: Tensor

    @property
    def n_clips(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class QueryData:
    """Q queries (or VSM pseudo-queries): text features, gold video index, gold span in clips and in seconds.

    span: long [Q, 2] (start clip, end clip inclusive); seconds: float [Q, 2]; kind: "v" / "t" / "vt" / "sub".
    """

    text: TextFeatures
    video: Tensor
    span: Tensor
    seconds: Tensor
    kind: list[str]

    def __len__(self) -> int:
        return int(self.video.shape[0])

    def select(self, index: Tensor) -> QueryData:
        """The queries at `index` (long [K]), in that order."""
        text = TextFeatures(self.text.tokens[index], self.text.mask[index], self.text.pooled[index])
        return QueryData(
            text,
            self.video[index],
            self.span[index],
            self.seconds[index],
            [self.kind[i] for i in index.tolist()],
        )


@dataclass
class TrainData:
    """Videos, the queries that point into them and, for VSM, subtitle lines as pseudo-queries.

    `variants` (optional) are shorter phrasings of the queries, each with the video and span of its source
    query `variant_of` [V]: what the query losses may train on in place of the source (not the warm-up).
    """

    videos: list[VideoData]
    queries: QueryData
    pseudo: QueryData
    variants: QueryData | None = None
    variant_of: Tensor | None = None


@dataclass
class VideoBatch:
    """Clips of B videos flattened to N = sum of clip counts, with the layout to pad them back to [B, C]."""

    frames: Tensor  # uint8 [N, F, H, W, 3] or float [N, F, Dv]
    frame_mask: Tensor  # bool [N, F]
    sub_tokens: Tensor  # float [N, L, Dt]
    sub_mask: Tensor  # bool [N, L]
    clip_mask: Tensor  # bool [B, C]

    def pad(self, flat: Tensor) -> Tensor:
        """Per-clip rows [N, ...] to [B, C, ...], zeros where `clip_mask` is False."""
        out = flat.new_zeros(*self.clip_mask.shape, *flat.shape[1:])
        out[self.clip_mask] = flat
        return out


def _pad_dim1(tensors: Sequence[Tensor], length: int) -> list[Tensor]:
    """Zero-pad each [C, l, ...] tensor's dim 1 to `length`."""
    out = []
    for t in tensors:
        pad = [0, 0] * (t.dim() - 2) + [0, length - t.shape[1]]
        out.append(F.pad(t, pad))
    return out


def collate_videos(videos: Sequence[VideoData], device: torch.device | str) -> VideoBatch:
    """Stack the clips of `videos` into one flat batch on `device` (subtitle tokens as float32).

    Subtitle tokens are cut to the longest real text of the batch (masks are left-aligned: only padding goes).
    """
    counts = torch.tensor([v.n_clips for v in videos])
    clip_mask = torch.arange(int(counts.max()))[None, :] < counts[:, None]  # [B, C]
    length = max(int(v.sub_mask.sum(dim=1).max()) for v in videos)
    sub_tokens = [v.sub_tokens[:, :length] for v in videos]
    sub_mask = [v.sub_mask[:, :length] for v in videos]
    return VideoBatch(
        frames=torch.cat([v.frames for v in videos]).to(device),
        frame_mask=torch.cat([v.frame_mask for v in videos]).to(device),
        sub_tokens=torch.cat(_pad_dim1(sub_tokens, length)).to(device, torch.float32),
        sub_mask=torch.cat(_pad_dim1(sub_mask, length)).to(device),
        clip_mask=clip_mask.to(device),
    )


def cat_queries(parts: Sequence[QueryData]) -> QueryData:
    """Concatenate query sets (text features padded to the longest)."""
    return QueryData(
        text=cat_text([p.text for p in parts]),
        video=torch.cat([p.video for p in parts]),
        span=torch.cat([p.span for p in parts]),
        seconds=torch.cat([p.seconds for p in parts]),
        kind=[k for p in parts for k in p.kind],
    )


def cat_text(parts: Sequence[TextFeatures]) -> TextFeatures:
    """Concatenate text features along the batch, zero-padding tokens to the longest part."""
    length = max(int(p.tokens.shape[1]) for p in parts)
    return TextFeatures(
        tokens=torch.cat(_pad_dim1([p.tokens for p in parts], length)),
        mask=torch.cat(_pad_dim1([p.mask for p in parts], length)),
        pooled=torch.cat([p.pooled for p in parts]),
    )

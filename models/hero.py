"""HERO-style hierarchical video encoder (clip level, then video level) and the query encoder.

Clip level: a cross-modal transformer reads one clip's frame features and the subtitle tokens overlapping it
and returns a CLS state. Video level: a temporal transformer over the clip states, run in overlapping local
windows so a 2-hour video (4,800 clips) costs O(C * window) memory. Clip, segment, video and query vectors
all live in one L2-normalised joint space of size `dim`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.config import ModelConfig
from models.encoders import CUES, TextFeatures


class Block(nn.Module):
    """Pre-norm transformer block; `allowed` is a boolean attention mask broadcast to [B,heads,L,L]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.dropout = config.dropout
        self.ln1 = nn.LayerNorm(config.hidden)
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden)
        self.out = nn.Linear(config.hidden, config.hidden)
        self.ln2 = nn.LayerNorm(config.hidden)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden, 4 * config.hidden),
            nn.GELU(),
            nn.Linear(4 * config.hidden, config.hidden),
            nn.Dropout(config.dropout),
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        b, length, h = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, length, 3, self.heads, h // self.heads)  # [B,L,3H]->[B,L,3,nh,hd]
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # [3,B,nh,L,hd]
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        y = y.transpose(1, 2).reshape(b, length, h)  # [B,nh,L,hd] -> [B,L,H]
        x = x + self.drop(self.out(y))
        return x + self.mlp(self.ln2(x))


class MotionReader(nn.Module):
    """What one clip's frames do, read from their raw glimpse cues (`models.encoders.frame_cues`).

    Each frame's cues (where the colour is, whether it is seen, how much) and their changes from frame to
    frame go through an MLP, non-linear across frames, to one vector [N,hidden] added to the clip's CLS token.
    Masked frames (a video's last, short clip) count as zeros and so do changes to or from them.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.frames = config.frames_per_clip
        width = CUES * (2 * self.frames - 1)
        self.mlp = nn.Sequential(
            nn.Linear(width, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Linear(config.hidden, config.hidden),
        )

    def forward(self, frame_feats: Tensor, frame_mask: Tensor) -> Tensor:
        """Frame features [N,F,Dv] whose last `CUES` numbers are cues, mask [N,F] -> [N,hidden]."""
        pad = self.frames - frame_feats.shape[1]
        mask = F.pad(frame_mask.bool(), (0, pad))[..., None]  # [N,frames,1]
        cues = F.pad(frame_feats[..., -CUES:], (0, 0, 0, pad)) * mask  # [N,frames,CUES]
        steps = (cues[:, 1:] - cues[:, :-1]) * (mask[:, 1:] & mask[:, :-1])  # [N,frames-1,CUES]
        return self.mlp(torch.cat([cues.flatten(1), steps.flatten(1)], dim=1))


def _valid_lengths(mask: Tensor) -> Tensor:
    """Index of the last True + 1 per row of a [B,C] mask (padding is expected at the end)."""
    positions = torch.arange(1, mask.shape[1] + 1, device=mask.device)
    return (mask.long() * positions).amax(dim=1)


class HierarchicalEncoder(nn.Module):
    """Clip level -> video level -> segment and video vectors; see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        # clip level: [CLS] + frames (+ frame position) + subtitle tokens, each with a modality-type embedding
        self.cls = nn.Parameter(0.02 * torch.randn(h))
        self.type_emb = nn.Embedding(3, h)  # 0 = CLS, 1 = frame, 2 = subtitle token
        self.frame_proj = nn.Linear(config.visual_dim, h)
        self.frame_pos = nn.Embedding(config.frames_per_clip, h)
        self.sub_proj = nn.Linear(config.text_dim, h)
        self.clip_blocks = nn.ModuleList(Block(config) for _ in range(config.clip_layers))
        self.clip_ln = nn.LayerNorm(h)
        self.motion = MotionReader(config) if config.motion_cues else None
        # what masked frame/clip modelling puts in place of a clip state before the video level
        self.mask_embedding = nn.Parameter(0.02 * torch.randn(h))
        # video level: positions relative within a window of `window` clips
        self.video_pos = nn.Embedding(config.window, h)
        self.video_blocks = nn.ModuleList(Block(config) for _ in range(config.video_layers))
        self.video_ln = nn.LayerNorm(h)
        self.out_proj = nn.Linear(h, config.dim)
        self.pool_score = nn.Linear(config.dim, 1)
        self.drop = nn.Dropout(config.dropout)

    def clip_level(
        self,
        frame_feats: Tensor,
        frame_mask: Tensor,
        sub_tokens: Tensor | None = None,
        sub_mask: Tensor | None = None,
    ) -> Tensor:
        """Frames [N,F,Dv] + mask [N,F], subtitle tokens [N,L,Dt] + mask [N,L] -> clip states [N,hidden].

        Subtitle tokens beyond `max_sub_tokens` are dropped; they are ignored when `use_subtitles` is False.
        With `motion_cues`, the `MotionReader`'s vector of the frames is added to the CLS token.
        """
        n, f, _ = frame_feats.shape
        if f > self.config.frames_per_clip:
            raise ValueError(f"{f} frames per clip, more than frames_per_clip={self.config.frames_per_clip}")
        types = self.type_emb.weight
        cls = (self.cls + types[0]).expand(n, 1, -1)  # [N,1,H]
        if self.motion is not None:
            cls = cls + self.motion(frame_feats, frame_mask)[:, None]
        frames = self.frame_proj(frame_feats) + self.frame_pos.weight[:f] + types[1]  # [N,F,H]
        parts, masks = [cls, frames], [frame_mask.new_ones(n, 1), frame_mask]
        if self.config.use_subtitles and sub_tokens is not None and sub_mask is not None:
            limit = self.config.max_sub_tokens
            parts.append(self.sub_proj(sub_tokens[:, :limit]) + types[2])  # [N,L,H]
            masks.append(sub_mask[:, :limit])
        x = self.drop(torch.cat(parts, dim=1))  # [N,1+F(+L),H]
        allowed = torch.cat(masks, dim=1).bool()[:, None, None, :]  # [N,1,1,T]
        for block in self.clip_blocks:
            x = block(x, allowed)
        return self.clip_ln(x[:, 0])

    def temporal(self, x: Tensor, mask: Tensor) -> Tensor:
        """Full attention over L <= window clips [B,L,H] with mask [B,L], positions 0..L-1 -> [B,L,H]."""
        length = x.shape[1]
        x = self.drop(x + self.video_pos.weight[:length])
        # every clip may attend to itself, so an all-padding row still has a key (and stays finite)
        eye = torch.eye(length, dtype=torch.bool, device=x.device)
        allowed = (mask.bool()[:, None, :] | eye)[:, None]  # [B,1,L,L]
        for block in self.video_blocks:
            x = block(x, allowed)
        return self.video_ln(x)

    def video_level(self, clip_states: Tensor, clip_mask: Tensor) -> Tensor:
        """Clip states [B,C,hidden] + mask [B,C] -> contextualised clip vectors [B,C,dim], L2-normalised.

        Local windowed attention: each video of n real clips is cut into windows of `window` clips at stride
        window/2 (the last one shifted to end at n); every clip keeps its output from the window where it is
        most central. Memory is O(C * window), not O(C^2); positions are relative within a window (no absolute
        position signal). A video with n <= window is one window, i.e. exactly full attention. The layout
        depends only on n, so padding a video in a batch does not change its clips' vectors.
        Without `use_temporal` the clip states are only projected.
        """
        if not self.config.use_temporal:
            return F.normalize(self.out_proj(clip_states), dim=-1)
        b, c, h = clip_states.shape
        w, stride = self.config.window, self.config.window // 2
        device = clip_states.device
        x = F.pad(clip_states, (0, 0, 0, max(0, w - c)))  # [B,max(C,W),H]
        mask = F.pad(clip_mask.bool(), (0, max(0, w - c)))  # [B,max(C,W)]
        batch_of, starts = [], []
        for i, n in enumerate(_valid_lengths(clip_mask).tolist()):
            video_starts = [0] if n <= w else [*range(0, n - w, stride), n - w]
            batch_of += [i] * len(video_starts)
            starts += video_starts
        window_batch = torch.tensor(batch_of, device=device)  # [K]
        window_start = torch.tensor(starts, device=device)  # [K]
        index = window_start[:, None] + torch.arange(w, device=device)  # [K,W]
        y = self.temporal(x[window_batch[:, None], index], mask[window_batch[:, None], index])  # [K,W,H]
        # pick for every clip the window of its video whose centre is nearest
        centre = window_start.float() + (w - 1) / 2  # [K]
        clip_pos = torch.arange(c, device=device, dtype=torch.float)  # [C]
        distance = (clip_pos[None, :, None] - centre[None, None, :]).abs()  # [1,C,K]
        other_video = window_batch[None, None, :] != torch.arange(b, device=device)[:, None, None]  # [B,1,K]
        choice = distance.masked_fill(other_video, float("inf")).argmin(dim=-1)  # [B,C]
        offset = (torch.arange(c, device=device) - window_start[choice]).clamp(0, w - 1)  # [B,C]
        return F.normalize(self.out_proj(y[choice, offset]), dim=-1)  # [B,C,H] -> [B,C,D]

    def segments(self, clips: Tensor) -> tuple[Tensor, Tensor]:
        """Clip vectors [C,dim] -> (segment vectors [S,dim] normalised, ranges [S,2] int64 [start, end)).

        For each scale s in `segment_scales`, windows of s clips at stride max(1, s // 2) starting at 0; the
        last window is clipped at the end of the video and no window starts after one that reached the end, so
        a video shorter than s still gets one segment of its full length. Duplicate ranges are dropped. Single
        clips are not segments (clip vectors are kept on their own): with scales [2,4,8], S <= ~1.75 C.
        """
        c = clips.shape[0]
        if c == 0:
            return clips.new_zeros(0, clips.shape[1]), torch.zeros(0, 2, dtype=torch.int64)
        ranges: dict[tuple[int, int], None] = {}  # an ordered set
        for scale in self.config.segment_scales:
            for start in range(0, c, max(1, scale // 2)):
                ranges[(start, min(start + scale, c))] = None
                if start + scale >= c:
                    break
        bounds = torch.tensor(list(ranges), dtype=torch.int64, device=clips.device)  # [S,2]
        prefix = F.pad(clips.cumsum(0), (0, 0, 1, 0))  # [C+1,D], prefix[i] = sum of clips[:i]
        sums = prefix[bounds[:, 1]] - prefix[bounds[:, 0]]  # [S,D]
        return F.normalize(sums, dim=-1), bounds

    def video_vector(self, clips: Tensor, clip_mask: Tensor) -> Tensor:
        """Attention pooling of clip vectors [B,C,dim] (mask [B,C]) -> video vectors [B,dim], normalised."""
        scores = self.pool_score(clips).squeeze(-1).masked_fill(~clip_mask.bool(), float("-inf"))  # [B,C]
        weights = scores.softmax(dim=-1).nan_to_num(0.0)  # a video with no clips pools to zero
        return F.normalize((weights.unsqueeze(-1) * clips).sum(1), dim=-1)


class QueryEncoder(nn.Module):
    """Attention pooling over the query tokens, concatenated with the pooled sentence vector, then an MLP;
    with `query_skip`, plus a gated linear map of the pooled sentence vector."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.token_score = nn.Linear(config.text_dim, 1)
        self.mlp = nn.Sequential(
            nn.Linear(2 * config.text_dim, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.dim),
        )
        self.sentence = nn.Linear(config.text_dim, config.dim, bias=False) if config.query_skip else None
        self.sentence_gate = nn.Parameter(torch.zeros(())) if config.query_skip else None

    def forward(self, text: TextFeatures, skip: bool = True) -> Tensor:
        """TextFeatures (tokens [B,L,Dt], mask [B,L], pooled [B,Dt]) -> query vectors [B,dim], normalised.

        `skip=False` leaves the sentence skip out (what subtitle vectors take)."""
        scores = self.token_score(text.tokens).squeeze(-1)  # [B,L,1] -> [B,L]
        scores = scores.masked_fill(~text.mask.bool(), float("-inf"))
        weights = scores.softmax(dim=-1).nan_to_num(0.0)
        attended = (weights.unsqueeze(-1) * text.tokens).sum(1)  # [B,Dt]
        out = F.normalize(self.mlp(torch.cat([attended, text.pooled], dim=-1)), dim=-1)
        if skip and self.sentence is not None and self.sentence_gate is not None:
            out = F.normalize(
                out + self.sentence_gate * F.normalize(self.sentence(text.pooled), dim=-1), dim=-1
            )
        return out


class SentenceQuery(nn.Module):
    """The zero-shot query side: the text encoder's own sentence vector [B,Dt], unchanged (no parameters)."""

    def forward(self, text: TextFeatures, skip: bool = True) -> Tensor:
        return F.normalize(text.pooled, dim=-1)

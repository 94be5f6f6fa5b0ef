"""Turn one video (decoded clips or precomputed frame features) into clip, segment and video vectors."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from indexer.cues import CONCEPTS, Cue
from indexer.media import Clip, iter_clips, probe_video
from indexer.subtitles import read_subtitles
from models.files import atomic_write
from models.model import KairosModel

FRAME_BATCH = 96  # frames per `encode_frames` call
CHUNK_CLIPS = 32  # clips decoded and encoded at a time on the in-process path


@dataclass
class EncodedVideo:
    """One video's vectors (float32, L2-normalised), its duration in seconds, its streams' timed lines and
    each line's sentence vector (the frozen text encoder's; None from checkpoints written before them)."""

    clips: np.ndarray  # [C, D]
    segments: np.ndarray  # [S, D]
    segment_ranges: np.ndarray  # [S, 2] int64 (start clip, end clip exclusive)
    video: np.ndarray  # [D]
    duration: float
    lines: list[Cue] = field(default_factory=list)
    line_vectors: np.ndarray | None = None  # [len(lines), Dt]

    def save(self, path: Path) -> None:
        """Write as `.npz` atomically (`models.files.atomic_write`)."""
        buffer = io.BytesIO()
        arrays: dict[str, np.ndarray] = {
            "clips": self.clips,
            "segments": self.segments,
            "segment_ranges": self.segment_ranges,
            "video": self.video,
            "duration": np.asarray(self.duration, dtype=np.float64),
            "line_stream": np.array([line.stream for line in self.lines], dtype=str),
            "line_times": np.array([(c.start, c.end) for c in self.lines], dtype=np.float64).reshape(-1, 2),
            "line_text": np.array([line.text for line in self.lines], dtype=str),
        }
        if self.line_vectors is not None:
            arrays["line_vectors"] = self.line_vectors
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as one array
        atomic_write(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> EncodedVideo:
        with np.load(path) as data:
            return cls(
                clips=data["clips"],
                segments=data["segments"],
                segment_ranges=data["segment_ranges"],
                video=data["video"],
                duration=float(data["duration"]),
                lines=[
                    Cue(float(start), float(end), str(text), str(stream))
                    for stream, (start, end), text in zip(
                        data["line_stream"], data["line_times"], data["line_text"], strict=True
                    )
                ]
                if "line_text" in data
                else [],
                line_vectors=data.get("line_vectors"),
            )


class VideoEncoder:
    """Encodes videos with one model: frame features chunk by chunk, then the hierarchical encoder."""

    def __init__(self, model: KairosModel) -> None:
        self.model = model.eval()
        self.config = model.config
        self.text_encoder = model.text_encoder

    @torch.no_grad()
    def frame_features(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames [N, H, W, 3] -> float32 features [N, Dv], in batches of FRAME_BATCH."""
        out = np.empty((len(frames), self.config.visual_dim), dtype=np.float32)
        for start in range(0, len(frames), FRAME_BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(frames[start : start + FRAME_BATCH]))
            out[start : start + len(batch)] = (
                self.model.encode_frames(batch.to(self.model.device)).float().cpu()
            )
        return out

    def clip_features(self, clips: Sequence[Clip]) -> tuple[np.ndarray, np.ndarray]:
        """Decoded clips -> frame features [n, F, Dv] and frame mask [n, F] (short last clips padded)."""
        f = self.config.frames_per_clip
        counts = [min(len(clip.frames), f) for clip in clips]
        frames = np.concatenate([clip.frames[:n] for clip, n in zip(clips, counts, strict=True)])
        flat = self.frame_features(frames)  # [sum(counts), Dv]
        feats = np.zeros((len(clips), f, flat.shape[1]), dtype=np.float32)
        mask = np.zeros((len(clips), f), dtype=bool)
        offsets = np.cumsum([0, *counts])
        for i, n in enumerate(counts):
            feats[i, :n] = flat[offsets[i] : offsets[i + 1]]
            mask[i, :n] = True
        return feats, mask

    @torch.no_grad()
    def text_tokens(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Clip texts -> tokens [C, L, Dt] and mask [C, L]; textless clips all masked.

        L is the longest text's token count, at most max_sub_tokens (0 when no clip has text): masked tokens
        change nothing in the clip-level attention, and skipping them makes textless videos ~2x faster.
        """
        length, dim = self.config.max_sub_tokens, self.text_encoder.dim
        tokens = torch.zeros(len(texts), length, dim, device=self.model.device)
        mask = torch.zeros(len(texts), length, dtype=torch.bool, device=self.model.device)
        unique = sorted({text.strip() for text in texts} - {""})
        for start in range(0, len(unique), FRAME_BATCH):
            batch = unique[start : start + FRAME_BATCH]
            features = self.text_encoder(batch)
            rows = {text: i for i, text in enumerate(batch)}
            width = min(length, features.tokens.shape[1])
            for c, text in enumerate(texts):
                if (row := rows.get(text.strip())) is not None:
                    tokens[c, :width] = features.tokens[row, :width].to(tokens)
                    mask[c, :width] = features.mask[row, :width].to(mask.device)
        used = int(mask.any(dim=0).nonzero().max()) + 1 if bool(mask.any()) else 0
        return tokens[:, :used], mask[:, :used]

    @torch.no_grad()
    def line_vectors(self, lines: Sequence[Cue]) -> np.ndarray:
        """Each line's sentence vector [len(lines), Dt] float32 (mean pooled, L2-normalised); texts once."""
        unique = sorted({line.text for line in lines})
        vectors = np.zeros((len(unique), self.text_encoder.dim), dtype=np.float32)
        for start in range(0, len(unique), FRAME_BATCH):
            pooled = self.text_encoder(unique[start : start + FRAME_BATCH]).pooled
            vectors[start : start + len(pooled)] = F.normalize(pooled.float(), dim=-1).cpu().numpy()
        rows = {text: i for i, text in enumerate(unique)}
        return vectors[np.asarray([rows[line.text] for line in lines], dtype=np.int64)]

    @torch.no_grad()
    def encode(
        self,
        frame_feats: np.ndarray,
        frame_mask: np.ndarray,
        texts: Sequence[str],
        duration: float,
        lines: Sequence[Cue] = (),
    ) -> EncodedVideo:
        """Frame features [C, F, Dv] + mask [C, F] + one text per clip -> the video's vectors.

        With visual concepts (`ModelConfig.concepts`), each clip's class names join its text, and they are
        kept as the video's "concepts" lines (consecutive clips that saw the same merged into one line).
        `lines` (the streams' timed lines) join them, by start time, each with its sentence vector.
        """
        if frame_feats.ndim != 3 or frame_feats.shape[2] != self.config.visual_dim:
            raise ValueError(
                f"frame features have shape {frame_feats.shape}, expected [C, F, {self.config.visual_dim}]"
            )
        if len(frame_feats) == 0:
            raise ValueError("the video has no clips")
        device = self.model.device
        feats = torch.from_numpy(np.ascontiguousarray(frame_feats, dtype=np.float32)).to(device)
        mask = torch.from_numpy(np.ascontiguousarray(frame_mask, dtype=bool)).to(device)
        seen = [", ".join(name for name, _ in labels) for labels in self.model.clip_concepts(feats, mask)]
        sub_tokens, sub_mask = self.text_tokens(
            [f"{text} {names}".strip() for text, names in zip(texts, seen, strict=True)]
        )
        encoding = self.model.encode_video(feats, mask, sub_tokens, sub_mask)
        concepts = concept_lines(seen, self.config.clip_seconds, duration)
        all_lines = sorted([*lines, *concepts], key=lambda cue: (cue.start, cue.stream))
        return EncodedVideo(
            clips=encoding.clips.float().cpu().numpy(),
            segments=encoding.segments.float().cpu().numpy(),
            segment_ranges=encoding.segment_ranges.cpu().numpy().astype(np.int64),
            video=encoding.video.float().cpu().numpy(),
            duration=duration,
            lines=all_lines,
            line_vectors=self.line_vectors(all_lines),
        )

    def encode_file(self, path: Path, subtitles: Path | None = None) -> EncodedVideo:
        """Decode and encode one video file in this process, CHUNK_CLIPS clips at a time."""
        c = self.config
        duration = probe_video(path).duration
        cues = read_subtitles(subtitles) if subtitles is not None else []
        pending = PendingVideo(self, cues)
        chunk: list[Clip] = []
        size = (c.frame_width, c.frame_height)
        for clip in iter_clips(path, fps=c.fps, clip_seconds=c.clip_seconds, size=size, cues=cues):
            chunk.append(clip)
            if len(chunk) == CHUNK_CLIPS:
                pending.add(chunk)
                chunk = []
        pending.add(chunk)
        return pending.finish(duration)


def concept_lines(seen: Sequence[str], clip_seconds: float, duration: float) -> list[Cue]:
    """Per-clip class names -> "concepts" lines: runs of clips that saw the same names, timed by the clips."""
    lines: list[Cue] = []
    start = 0
    for i in range(1, len(seen) + 1):
        if i == len(seen) or seen[i] != seen[start]:
            if seen[start]:
                end = min(i * clip_seconds, duration)
                lines.append(Cue(round(start * clip_seconds, 3), round(end, 3), seen[start], CONCEPTS))
            start = i
    return lines


class PendingVideo:
    """One video being encoded as its clips arrive: frame features per chunk, the rest at `finish`.
    `lines` are its streams' timed lines (subtitles, on-screen text), stored in the snapshot with it."""

    def __init__(self, encoder: VideoEncoder, lines: Sequence[Cue] = ()) -> None:
        self.encoder = encoder
        self.feats: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.texts: list[str] = []
        self.lines = list(lines)

    @property
    def n_clips(self) -> int:
        return len(self.texts)

    def add(self, clips: Sequence[Clip]) -> None:
        """Encode the frames of the next clips (in order); keep their features and texts."""
        if clips:
            feats, mask = self.encoder.clip_features(clips)
            self.feats.append(feats)
            self.masks.append(mask)
            self.texts.extend(clip.text for clip in clips)

    def finish(self, duration: float) -> EncodedVideo:
        if not self.feats:
            raise ValueError("no clips were decoded")
        return self.encoder.encode(
            np.concatenate(self.feats), np.concatenate(self.masks), self.texts, duration, self.lines
        )

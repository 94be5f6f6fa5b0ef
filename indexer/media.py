"""Media ingest: probe a video, sample frames at a fixed rate, letterbox them, cut them into clips.

- Decoders: decord where it is installed and opens the file, else PyAV (``backend="auto"``); every file is
  probed with PyAV first so bad files raise clean ``MediaError`` subclasses and never reach decord.
- Timestamps: frame k is sampled at t_k = k / fps for every t_k < duration; it is the frame on screen at
  t_k (the last frame whose presentation time is <= t_k, counted from the first frame). Both backends give
  the same timestamps and near-identical frames (decord's float32 frame times can tip a frame that starts
  within float32 precision of t_k, far under a millisecond, to the other side).
- Aspect policy "letterbox": scale to fit inside the target size keeping the aspect ratio (bilinear,
  antialiased), pad with black, centred. Pixels are taken as square.
- Clips: clip i covers [i * clip_seconds, (i + 1) * clip_seconds) (its ``end`` is clamped to the duration);
  n_clips = ceil(duration / clip_seconds). A clip with no sampled frame reuses the last sampled frame, with
  that frame's own timestamp.
- Truncated files: the probe works while the container header is readable; iteration yields the frames that
  decode and stops where the data ends (clips past the end are not emitted), however long the header says
  the video is. A file where no frame decodes raises ``CorruptMediaError``.
- Memory: frames are generated one at a time; decoders hold at most one bounded chunk (see
  ``indexer.decoders``) and ``iter_clips`` holds one clip, so a 2-hour video is never in memory whole.
- Watchdog: opening has a timeout (``open_timeout_s``); decoding has a wall-clock budget, by default
  max(60 s, 4 x duration), and both raise ``DecodeTimeoutError``.
- One frame at t (``frame_at``, for thumbnails): PyAV seeks to the keyframe at or before t and decodes
  forward, so a late t costs one GOP, not the whole video; it returns the frame ``iter_frames`` gives at t.
  Where the seek lands after t it retries further back; where the file cannot seek, or a seek finds no data
  (a truncated file), it decodes from the start. t past the last frame gives the last frame, unless the
  data ends before the duration the header claims: then ``DataEndsError`` says where the data ends.
  (decord was measured as the alternative: opening it indexes the whole file, ~0.2 s for 10 minutes, more
  than PyAV's whole seek; see ``benchmarks/thumbnail.py``.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from indexer.decoders import (
    Backend,
    CorruptMediaError,
    DataEndsError,
    Deadline,
    DecodeTimeoutError,
    Frame,
    MediaError,
    MediaNotFoundError,
    NotAVideoError,
    TimedFrame,
    VideoInfo,
    check_file,
    decoded_frames,
    decord_frames,
    open_container,
    open_video,
    pyav_frames,
    seek_to,
    shown_at,
    stream_duration,
    to_rgb,
    video_stream,
)
from indexer.subtitles import Cue, SubtitleError, clip_texts

__all__ = [
    "Backend",
    "Clip",
    "CorruptMediaError",
    "DataEndsError",
    "DecodeTimeoutError",
    "MediaError",
    "MediaNotFoundError",
    "NotAVideoError",
    "SubtitleError",
    "VideoInfo",
    "frame_at",
    "iter_clips",
    "iter_frames",
    "letterbox",
    "probe_video",
    "sample_times",
]

OPEN_TIMEOUT_S = 60.0
MIN_BUDGET_S = 60.0
BUDGET_PER_VIDEO_SECOND = 4.0
SEEK_BACKOFF_S = (0.0, 10.0, 60.0)


@dataclass
class Clip:
    """One clip: frames [F, H, W, 3] uint8 sampled at ``timestamps`` [F] seconds, and its subtitle text."""

    index: int
    start: float
    end: float
    frames: np.ndarray
    timestamps: np.ndarray
    text: str


def probe_video(
    path: str | Path, backend: Backend = "auto", *, open_timeout_s: float = OPEN_TIMEOUT_S
) -> VideoInfo:
    """Duration, fps, frame count and size of a video, and the backend that will decode it."""
    info, _ = open_video(Path(path), backend, open_timeout_s)
    return info


def sample_times(duration: float, fps: float) -> Iterator[float]:
    """t_k = k / fps for k = 0, 1, ... while t_k < duration."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    k = 0
    while k / fps < duration:
        yield k / fps
        k += 1


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fit an RGB image [H, W, 3] into ``size`` = (width, height) keeping its aspect; black bars, centred."""
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    out = np.zeros((height, width, 3), dtype=np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


def iter_frames(
    path: str | Path,
    fps: float = 2.0,
    size: tuple[int, int] = (128, 96),
    backend: Backend = "auto",
    *,
    budget_s: float | None = None,
    open_timeout_s: float = OPEN_TIMEOUT_S,
) -> Iterator[tuple[float, np.ndarray]]:
    """(t_k, letterboxed RGB frame [H, W, 3] uint8) for each sample time, streamed.

    The file is opened (and bad files rejected) when this is called; frames are decoded while iterating.
    """
    _, frames = _open_frames(Path(path), fps, backend, budget_s, open_timeout_s)
    return ((t, letterbox(image, size)) for t, image in frames)


def _open_frames(
    path: Path, fps: float, backend: Backend, budget_s: float | None, open_timeout_s: float
) -> tuple[VideoInfo, Iterator[Frame]]:
    """Open the video and return its info and a full-size frame stream at the sample times."""
    info, reader = open_video(path, backend, open_timeout_s)
    times = sample_times(info.duration, fps)
    budget = budget_s if budget_s is not None else max(MIN_BUDGET_S, BUDGET_PER_VIDEO_SECOND * info.duration)
    deadline = Deadline(path, budget)
    if reader is None:
        return info, pyav_frames(path, times, deadline, open_timeout_s)
    return info, decord_frames(reader, info, times, deadline)


def frame_at(
    path: str | Path,
    t: float,
    *,
    budget_s: float | None = None,
    open_timeout_s: float = OPEN_TIMEOUT_S,
) -> tuple[float, np.ndarray]:
    """The frame on screen at t seconds, found by seeking: (its start time, full-size RGB [H, W, 3] uint8)."""
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"t must be a finite number of seconds >= 0, got {t}")
    path = Path(path)
    check_file(path)
    with open_container(path, open_timeout_s) as container:
        stream = video_stream(container, path)
        first = next(decoded_frames(container, stream, path, Deadline(path, open_timeout_s)), None)
        if first is None:
            raise CorruptMediaError(f"{path}: zero-length video (no decodable frames)")
        duration = stream_duration(container, stream)
        budget = budget_s if budget_s is not None else max(MIN_BUDGET_S, BUDGET_PER_VIDEO_SECOND * duration)
        deadline = Deadline(path, budget)
        shown, passed = _seek_shown(container, stream, path, first[2].pts, t, deadline)
        if shown is not None:
            return _checked(path, t, shown, passed, duration)
    return _checked(path, t, *_sequential_shown(path, t, deadline, open_timeout_s), duration)


def _seek_shown(
    container: Any, stream: Any, path: Path, origin_pts: int, t: float, deadline: Deadline
) -> tuple[TimedFrame | None, bool]:
    """Seek before t (further back while a seek lands after t or finds no data), decode to the frame at t."""
    origin = float(origin_pts * stream.time_base)
    for back in SEEK_BACKOFF_S:
        start = max(0.0, t - back)
        if not seek_to(container, stream, origin_pts, start):
            break
        shown, passed = shown_at(decoded_frames(container, stream, path, deadline, origin), t)
        if shown is not None:
            return shown, passed
        if start == 0.0:
            break
    return None, False


def _sequential_shown(
    path: Path, t: float, deadline: Deadline, open_timeout_s: float
) -> tuple[TimedFrame | None, bool]:
    """Decode a freshly opened file from its start to the frame shown at t (no seeking)."""
    with open_container(path, open_timeout_s) as container:
        stream = video_stream(container, path)
        shown, passed = shown_at(decoded_frames(container, stream, path, deadline), t)
        if shown is None:
            return None, passed
        return (shown[0], shown[1], to_rgb(shown[2], path, t)), passed


def _checked(
    path: Path, t: float, shown: TimedFrame | None, passed: bool, duration: float
) -> tuple[float, np.ndarray]:
    """The shown frame as RGB; past the data's end the last frame, unless the data stops short of duration."""
    if shown is None:
        raise CorruptMediaError(f"{path}: no frame decodes at or before {t:.3f} s")
    start, end, frame = shown
    if not passed and t >= end and end < duration - (end - start) - 1e-6:
        raise DataEndsError(f"{path}: the video data ends at {end:.3f} s, before {t:.3f} s (truncated?)", end)
    return start, frame if isinstance(frame, np.ndarray) else to_rgb(frame, path, t)


def iter_clips(
    path: str | Path,
    fps: float = 2.0,
    clip_seconds: float = 1.5,
    size: tuple[int, int] = (128, 96),
    cues: Sequence[Cue] | None = None,
    backend: Backend = "auto",
    *,
    budget_s: float | None = None,
    open_timeout_s: float = OPEN_TIMEOUT_S,
) -> Iterator[Clip]:
    """Clips of ``clip_seconds`` with their sampled frames and overlapping subtitle text, streamed."""
    if clip_seconds <= 0:
        raise ValueError(f"clip_seconds must be positive, got {clip_seconds}")
    info, frames = _open_frames(Path(path), fps, backend, budget_s, open_timeout_s)
    n_clips = max(1, math.ceil(round(info.duration / clip_seconds, 9)))
    texts = clip_texts(cues, n_clips, clip_seconds) if cues else [""] * n_clips
    sized = ((t, letterbox(image, size)) for t, image in frames)
    return _cut(sized, n_clips, clip_seconds, 1.0 / fps, texts, info.duration)


def _cut(
    frames: Iterator[Frame], n_clips: int, clip_seconds: float, step: float, texts: list[str], duration: float
) -> Iterator[Clip]:
    """Group sampled frames into clips; stops after the last clip the decoded data reaches."""
    pending: list[Frame] = []
    last: Frame | None = None
    index = 0
    for t, image in frames:
        target = min(math.floor(t / clip_seconds + 1e-9), n_clips - 1)
        while index < target and last is not None:
            yield _clip(index, pending or [last], clip_seconds, texts[index], duration)
            index, pending = index + 1, []
        pending.append((t, image))
        last = (t, image)
    if last is None:
        return
    reach = last[0] + step
    while index < n_clips and (pending or index * clip_seconds < reach):
        yield _clip(index, pending or [last], clip_seconds, texts[index], duration)
        index, pending = index + 1, []


def _clip(index: int, frames: list[Frame], clip_seconds: float, text: str, duration: float) -> Clip:
    """Stack one clip's frames."""
    return Clip(
        index=index,
        start=index * clip_seconds,
        end=min((index + 1) * clip_seconds, duration),
        frames=np.stack([image for _, image in frames]),
        timestamps=np.array([t for t, _ in frames], dtype=np.float64),
        text=text,
    )

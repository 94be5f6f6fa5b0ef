"""Precomputed frame features: `<vid>.npy` / `<vid>.npz` (key `features`) arrays [T, D] -> clips [C, F, D]."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from indexer.sources import SourceItem
from indexer.subtitles import clip_texts, find_sidecars, read_subtitles

FEATURE_EXTENSIONS = (".npy", ".npz")
NPZ_KEY = "features"


class FeatureError(ValueError):
    """A feature file that cannot be used; the message names the file."""


def feature_items(folder: Path) -> list[SourceItem]:
    """Every `.npy`/`.npz` file directly in ``folder``, video id = stem, with its subtitle sidecar if any."""
    if not folder.is_dir():
        raise FeatureError(f"{folder}: not a folder of feature files")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FEATURE_EXTENSIONS)
    return [
        SourceItem(path=p, video_id=p.stem, subtitles=sidecar)
        for p, sidecar in zip(paths, find_sidecars(paths), strict=True)
    ]


def load_features(path: Path, visual_dim: int) -> np.ndarray:
    """The float32 array [T, D] of a feature file; FeatureError if unreadable, not 2-D, or D != visual_dim."""
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path) as archive:
                if NPZ_KEY not in archive:
                    raise FeatureError(
                        f"{path}: no {NPZ_KEY!r} array (found {', '.join(archive.files) or 'none'})"
                    )
                array = archive[NPZ_KEY]
        else:
            array = np.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, FeatureError):
            raise
        raise FeatureError(f"{path}: not a readable numpy feature file ({exc})") from exc
    if array.ndim != 2 or array.shape[0] == 0:
        raise FeatureError(f"{path}: features must be a non-empty [T, D] array, got shape {array.shape}")
    if array.shape[1] != visual_dim:
        raise FeatureError(
            f"{path}: features have D={array.shape[1]} but the model's visual_dim is {visual_dim}; "
            "extract them with the model's visual backbone or pick a model with that visual_dim"
        )
    if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise FeatureError(f"{path}: features must be finite floating-point numbers (dtype {array.dtype})")
    return np.asarray(array, dtype=np.float32)


def resample(features: np.ndarray, source_fps: float, fps: float) -> np.ndarray:
    """Nearest-frame resampling of [T, D] features at ``source_fps`` to t_k = k / fps < T / source_fps."""
    duration = len(features) / source_fps
    count = max(1, math.ceil(duration * fps - 1e-9))
    nearest = np.rint(np.arange(count) / fps * source_fps).astype(np.int64)
    return features[np.minimum(nearest, len(features) - 1)]


def group_clips(
    frames: np.ndarray, fps: float, clip_seconds: float, frames_per_clip: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frame features [K, D] at ``fps`` -> clips [C, F, D] and mask [C, F]; clip i covers [i*cs, (i+1)*cs)."""
    k = np.arange(len(frames))
    clip_of = np.floor(k / fps / clip_seconds + 1e-9).astype(np.int64)
    n_clips = int(clip_of[-1]) + 1
    first = np.searchsorted(clip_of, np.arange(n_clips))
    slot = k - first[clip_of]
    keep = slot < frames_per_clip
    feats = np.zeros((n_clips, frames_per_clip, frames.shape[1]), dtype=np.float32)
    mask = np.zeros((n_clips, frames_per_clip), dtype=bool)
    feats[clip_of[keep], slot[keep]] = frames[keep]
    mask[clip_of[keep], slot[keep]] = True
    return feats, mask


def read_feature_frames(
    path: Path,
    visual_dim: int,
    source_fps: float,
    fps: float,
    clip_seconds: float,
    frames_per_clip: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """One feature file -> clip features [C, F, D], mask [C, F] and duration (s)."""
    features = load_features(path, visual_dim)
    feats, mask = group_clips(resample(features, source_fps, fps), fps, clip_seconds, frames_per_clip)
    return feats, mask, len(features) / source_fps


def read_feature_clips(
    item: SourceItem,
    visual_dim: int,
    source_fps: float,
    fps: float,
    clip_seconds: float,
    frames_per_clip: int,
) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """One feature item -> clip features [C, F, D], mask [C, F], one subtitle text per clip, duration (s)."""
    feats, mask, duration = read_feature_frames(
        item.path, visual_dim, source_fps, fps, clip_seconds, frames_per_clip
    )
    cues = read_subtitles(item.subtitles) if item.subtitles is not None else []
    return feats, mask, clip_texts(cues, len(feats), clip_seconds), duration

"""Training data from a corpus folder (or a folder of precomputed frame features, `FeatureSource`) and a TVR
or QVHighlights jsonl (`indexer.annotations`): `build_dataset(...) -> models.data.TrainData`.

Each video is decoded once with `iter_clips` at the model's fps / clip length / frame size and its uint8
frames are cached (`<cache>/frames/<content sha256>-<layout>.npz`), so later epochs and later runs never
decode again. The frozen text encoder runs once over the queries, the subtitle text of every clip and (for
VSM) the subtitle lines, cached as safetensors keyed by the texts and the encoder. Subtitle clip features
are made exactly as the indexer makes them (`VideoEncoder.text_tokens`): training sees what search sees.
Precomputed features are read as `kairos index --features` reads them (`indexer.features`), not cached.
Spans: start clip = floor(st / clip_seconds), end clip (inclusive) = ceil(ed / clip_seconds) - 1, clamped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save
from tqdm import tqdm

from indexer.annotations import Annotation, read_annotations
from indexer.encoding import VideoEncoder
from indexer.features import FeatureError, feature_items, read_feature_frames
from indexer.media import MediaError, iter_clips, probe_video
from indexer.sources import VIDEO_EXTENSIONS, SourceItem
from indexer.subtitles import Cue, SubtitleError, clip_texts, find_sidecar, read_subtitles
from models.data import QueryData, TrainData, VideoData, cat_text
from models.encoders import TextFeatures
from models.files import atomic_write, file_sha256
from models.model import KairosModel

log = logging.getLogger(__name__)

TEXT_BATCH = 128


@dataclass(frozen=True)
class FeatureSource:
    """A folder of precomputed frame features (`<vid>.npy` / `.npz`, subtitles optional) at `fps`."""

    folder: Path
    fps: float | None = None  # None: the model's fps


def clip_span(start: float, end: float, clip_seconds: float, n_clips: int) -> tuple[int, int]:
    """Seconds -> (start clip, end clip inclusive), clamped to the video and never ending before it starts."""
    first = min(max(math.floor(start / clip_seconds), 0), n_clips - 1)
    last = min(max(math.ceil(end / clip_seconds) - 1, first), n_clips - 1)
    return first, last


def find_video(corpus: Path, vid_name: str) -> Path | None:
    """`<corpus>/videos/<vid_name>.<ext>` (or directly under `corpus`) for a known video extension."""
    for folder in (corpus / "videos", corpus):
        for suffix in sorted(VIDEO_EXTENSIONS):
            if (path := folder / f"{vid_name}{suffix}").is_file():
                return path
    return None


def build_dataset(
    corpus: Path | FeatureSource,
    annotations: Path,
    model: KairosModel,
    cache_dir: Path | None = None,
    pseudo_queries: bool = True,
    progress: bool = False,
    query_variants: int = 0,
) -> TrainData:
    """The videos named in `annotations` that load, their queries and, if asked, subtitle pseudo-queries
    and up to `query_variants` shorter phrasings of each query (`shorter_phrasings`).

    `cache_dir` defaults to `<corpus>/.kairos-cache`. Missing or unreadable videos are skipped with a logged
    reason and their queries dropped; a feature file the model cannot read (`FeatureError`) stops the build.
    """
    folder = corpus.folder if isinstance(corpus, FeatureSource) else corpus
    cache = _Cache(cache_dir if cache_dir is not None else folder / ".kairos-cache", model)
    rows = read_annotations(annotations)
    load = (
        _feature_loader(cache, corpus) if isinstance(corpus, FeatureSource) else _video_loader(cache, corpus)
    )
    videos: list[VideoData] = []
    cues_of: list[list[Cue]] = []
    index_of: dict[str, int] = {}
    for name in tqdm(sorted({row.video for row in rows}), desc="videos", disable=not progress):
        if (loaded := load(name)) is None:
            continue
        index_of[name] = len(videos)
        videos.append(loaded[0])
        cues_of.append(loaded[1])
    kept = [row for row in rows if row.video in index_of]
    if len(kept) < len(rows):
        log.warning("dropped %d of %d queries whose video was skipped", len(rows) - len(kept), len(rows))
    _check_durations(kept, videos, index_of)
    queries = _queries(
        cache,
        videos,
        [row.text for row in kept],
        [index_of[row.video] for row in kept],
        [row.moment for row in kept],
        [row.kind for row in kept],
    )
    lines = [(v, cue) for v, cues in enumerate(cues_of) for cue in cues] if pseudo_queries else []
    pseudo = _queries(
        cache,
        videos,
        [cue.text for _, cue in lines],
        [v for v, _ in lines],
        [(cue.start, cue.end) for _, cue in lines],
        ["sub"] * len(lines),
    )
    shorter = [
        (text, i) for i, row in enumerate(kept) for text in shorter_phrasings(row.text, query_variants)
    ]
    if not shorter:
        return TrainData(videos=videos, queries=queries, pseudo=pseudo)
    source = torch.tensor([i for _, i in shorter], dtype=torch.long)
    variants = dataclasses.replace(queries.select(source), text=cache.text([text for text, _ in shorter]))
    return TrainData(videos=videos, queries=queries, pseudo=pseudo, variants=variants, variant_of=source)


Loader = Callable[[str], tuple[VideoData, list[Cue]] | None]


def _video_loader(cache: _Cache, corpus: Path) -> Loader:
    """Load a video by name from a corpus folder (None, logged: no file, or it does not decode)."""

    def load(name: str) -> tuple[VideoData, list[Cue]] | None:
        path = find_video(corpus, name)
        if path is None:
            log.warning("skipping video %s: no video file for it under %s", name, corpus)
            return None
        try:
            return cache.video(name, path)
        except MediaError as exc:
            log.warning("skipping video %s: %s", name, exc)
            return None

    return load


def _feature_loader(cache: _Cache, source: FeatureSource) -> Loader:
    """Load a video by name from a features folder (None, logged: no feature file for it)."""
    fps = source.fps or cache.model.config.fps
    if fps <= 0:
        raise FeatureError(f"the features' fps must be positive, got {fps}")
    items = {item.video_id: item for item in feature_items(source.folder)}

    def load(name: str) -> tuple[VideoData, list[Cue]] | None:
        if name not in items:
            log.warning("skipping video %s: no feature file for it in %s", name, source.folder)
            return None
        return cache.features(items[name], fps)

    return load


def _check_durations(
    rows: Sequence[Annotation], videos: Sequence[VideoData], index_of: dict[str, int]
) -> None:
    """Warn when videos last over 10 % more or less than annotated: features read at the wrong fps?"""
    off = {
        row.video: row.duration
        for row in rows
        if row.duration is not None
        and abs(videos[index_of[row.video]].duration - row.duration) > 0.1 * row.duration
    }
    if off:
        name = min(off)
        log.warning(
            "%d videos last other than annotated, e.g. %s: %.1f s, annotated %.1f s (wrong --features-fps?)",
            len(off),
            name,
            videos[index_of[name]].duration,
            off[name],
        )


def shorter_phrasings(text: str, count: int, max_cut: int = 2) -> list[str]:
    """Up to `count` distinct copies of `text` with one run of 1 to `max_cut` words cut out, at least two
    words left: what a user who says less than an annotator would type. Seeded by the text (reproducible)."""
    words = text.split()
    rng = random.Random(text)
    out: list[str] = []
    for _ in range(4 * count):
        if len(out) == count or len(words) < 3:
            break
        cut = rng.randint(1, min(max_cut, len(words) - 2))
        start = rng.randrange(len(words) - cut + 1)
        shorter = " ".join(words[:start] + words[start + cut :])
        if shorter not in out:
            out.append(shorter)
    return out


def _queries(
    cache: _Cache,
    videos: Sequence[VideoData],
    texts: list[str],
    video: list[int],
    seconds: list[tuple[float, float]],
    kind: list[str],
) -> QueryData:
    """Queries as tensors: text features, video index, clip span and gold seconds."""
    clip_seconds = cache.model.config.clip_seconds
    spans = [
        clip_span(s, e, clip_seconds, videos[v].n_clips) for v, (s, e) in zip(video, seconds, strict=True)
    ]
    return QueryData(
        text=cache.text(texts),
        video=torch.tensor(video, dtype=torch.long),
        span=torch.tensor(spans, dtype=torch.long).view(-1, 2),
        seconds=torch.tensor(seconds, dtype=torch.float32).view(-1, 2),
        kind=kind,
    )


class _Cache:
    """Decoded frames and text features on disk, keyed by content and by everything that shapes them."""

    def __init__(self, root: Path, model: KairosModel) -> None:
        self.root = root
        self.model = model
        c = model.config
        self.layout = (
            f"{c.frame_width}x{c.frame_height}-fps{c.fps:g}-clip{c.clip_seconds:g}-f{c.frames_per_clip}"
        )

    @cached_property
    def encoder(self) -> VideoEncoder:
        """The indexer's encoder (loads the text encoder): built only when a feature is not cached."""
        return VideoEncoder(self.model)

    def video(self, name: str, path: Path) -> tuple[VideoData, list[Cue]]:
        """One video's frames (decoded or from the cache), subtitle clip features and subtitle cues."""
        cues = _cues(name, find_sidecar(path))
        frames, frame_mask, duration = self._frames(path)
        return self._video(name, torch.from_numpy(frames), torch.from_numpy(frame_mask), duration, cues), cues

    def features(self, item: SourceItem, fps: float) -> tuple[VideoData, list[Cue]]:
        """One video's precomputed frame features [C,F,Dv] at `fps`, subtitle clip features and cues."""
        c = self.model.config
        feats, mask, duration = read_feature_frames(
            item.path, c.visual_dim, fps, c.fps, c.clip_seconds, c.frames_per_clip
        )
        cues = _cues(item.video_id, item.subtitles)
        return self._video(
            item.video_id, torch.from_numpy(feats), torch.from_numpy(mask), duration, cues
        ), cues

    def _video(
        self, name: str, frames: torch.Tensor, frame_mask: torch.Tensor, duration: float, cues: list[Cue]
    ) -> VideoData:
        """A `VideoData` with the subtitle clip features of `cues`."""
        texts = clip_texts(cues, len(frames), self.model.config.clip_seconds)
        sub_tokens, sub_mask = self._sub_tokens(texts)
        return VideoData(name, duration, frames, frame_mask, sub_tokens, sub_mask)

    def _frames(self, path: Path) -> tuple[np.ndarray, np.ndarray, float]:
        """uint8 frames [C,F,H,W,3], frame mask [C,F] (short last clip padded) and duration."""
        target = self.root / "frames" / f"{file_sha256(path)[:32]}-{self.layout}.npz"
        if target.is_file():
            with np.load(target) as data:
                return data["frames"], data["frame_mask"], float(data["duration"])
        c = self.model.config
        duration = probe_video(path).duration
        clips = list(
            iter_clips(path, fps=c.fps, clip_seconds=c.clip_seconds, size=(c.frame_width, c.frame_height))
        )
        if not clips:
            raise MediaError(f"{path}: no clip could be decoded")
        f = c.frames_per_clip
        frames = np.zeros((len(clips), f, c.frame_height, c.frame_width, 3), dtype=np.uint8)
        frame_mask = np.zeros((len(clips), f), dtype=bool)
        for i, clip in enumerate(clips):
            n = min(len(clip.frames), f)
            frames[i, :n], frame_mask[i, :n] = clip.frames[:n], True
        atomic_write(
            target, lambda tmp: _save_npz(tmp, frames=frames, frame_mask=frame_mask, duration=duration)
        )
        return frames, frame_mask, duration

    def _sub_tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Subtitle token features per clip [C,L,Dt] float16 and mask [C,L], as the indexer computes them."""
        target = self.root / "text" / f"sub-{self._text_key(texts)}.safetensors"
        if target.is_file():
            stored = load_file(str(target))
            return stored["tokens"], stored["mask"]
        tokens, mask = self.encoder.text_tokens(texts)
        tokens, mask = tokens.half().cpu(), mask.cpu()
        atomic_write(target, _safetensors_bytes({"tokens": tokens, "mask": mask}))
        return tokens, mask

    def text(self, texts: list[str]) -> TextFeatures:
        """Frozen text-encoder features of `texts` (tokens [Q,L,Dt], mask [Q,L], pooled [Q,Dt]), cached."""
        target = self.root / "text" / f"query-{self._text_key(texts)}.safetensors"
        if target.is_file():
            stored = load_file(str(target))
            return TextFeatures(stored["tokens"], stored["mask"], stored["pooled"])
        if not texts:
            dim = self.model.config.text_dim
            return TextFeatures(
                torch.zeros(0, 0, dim), torch.zeros(0, 0, dtype=torch.bool), torch.zeros(0, dim)
            )
        encoder = self.model.text_encoder
        features = cat_text(
            [encoder(texts[i : i + TEXT_BATCH]).to("cpu") for i in range(0, len(texts), TEXT_BATCH)]
        )
        tensors = {"tokens": features.tokens, "mask": features.mask, "pooled": features.pooled}
        atomic_write(target, _safetensors_bytes(tensors))
        return features

    def _text_key(self, texts: list[str]) -> str:
        """sha256 of the texts and of what the features depend on (text model, subtitle token budget)."""
        c = self.model.config
        header = json.dumps([c.text_model, c.text_dim, c.max_sub_tokens, len(texts)])
        digest = hashlib.sha256(header.encode())
        for text in texts:
            digest.update(b"\x00" + text.encode("utf-8"))
        return digest.hexdigest()[:32]


def _cues(name: str, subtitles: Path | None) -> list[Cue]:
    """The cues of a subtitle file; none without one, or (logged) when it cannot be read."""
    if subtitles is None:
        return []
    try:
        return read_subtitles(subtitles)
    except SubtitleError as exc:
        log.warning("video %s: subtitles ignored: %s", name, exc)
        return []


def _safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return save({k: v.contiguous() for k, v in tensors.items()})


def _save_npz(path: Path, **arrays: np.ndarray | float) -> None:
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as one array

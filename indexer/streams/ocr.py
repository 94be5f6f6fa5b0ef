"""On-screen text: RapidOCR over frames sampled at a low rate, read again only when the picture changes.

Frames are decoded at ``OcrSettings.fps`` and scaled to at most ``max_width`` pixels wide (OCR needs more
pixels than the model's frames). A sample is read when its grey thumbnail differs from the last read
sample's by at least ``trigger`` (mean absolute difference, grey levels); otherwise the last read's lines
count as still on screen, so a slide shown for a minute is read once. Lines scoring below
``min_confidence`` are dropped. A line starts at the first sample it is seen in and ends where the sample
after the last one it is still seen in would start (at most the duration); the same text (case and spaces
aside: the recogniser sometimes drops a space between words) on consecutive reads is one line, shown as
the reading with the most spaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from indexer.cues import OCR, Cue
from indexer.media import iter_frames, probe_video
from indexer.streams.settings import OcrSettings
from indexer.subtitles import clean_text

THUMB_WIDTH = 64


class ScreenReader:
    """RapidOCR with the detection and recognition weights its package ships, on one thread (ONNX Runtime
    and OpenCV both).

    Detection runs at the frame's own size up to ``max_side`` (RapidOCR's default scales the short side up
    to 736 px: 0.48 s a 640x360 frame here, against 0.17 s, reading the same lines); no angle classifier
    (text on screen is upright).
    """

    def __init__(self, max_side: int = 1280) -> None:
        import cv2
        from rapidocr_onnxruntime import RapidOCR

        cv2.setNumThreads(1)  # its image operations too: parallelism comes from worker processes
        self._engine: Any = RapidOCR(
            intra_op_num_threads=1,
            inter_op_num_threads=1,
            use_cls=False,
            det_limit_type="max",
            det_limit_side_len=max_side,
        )

    def read(self, image: np.ndarray) -> list[tuple[str, float]]:
        """The text lines found in an RGB image [H, W, 3] uint8, with their confidence (0-1)."""
        found, _ = self._engine(image)
        return [(str(text), float(score)) for _, text, score in found or []]


def ocr_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The (width, height) frames are read at: the video's aspect, at most ``max_width`` wide, even sizes."""
    scale = min(1.0, max_width / width)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A grey thumbnail THUMB_WIDTH pixels wide, as float32 grey levels, for the change trigger."""
    h, w = image.shape[:2]
    size = (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w)))
    return np.asarray(Image.fromarray(image).convert("L").resize(size, Image.Resampling.BOX), np.float32)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, in grey levels."""
    return float(np.abs(a - b).mean())


class _Lines:
    """Lines open on screen (text key -> shown text, first and last sample seen) and lines closed."""

    def __init__(self, step: float, duration: float) -> None:
        self.step, self.duration = step, duration
        self.open: dict[str, tuple[str, float, float]] = {}
        self.closed: list[Cue] = []

    def seen(self, t: float, texts: list[str]) -> None:
        """A read at t found ``texts``: lines not among them end, new ones start."""
        keys = {"".join(text.casefold().split()): text for text in texts if text}
        for key in [key for key in self.open if key not in keys]:
            self._close(key)
        for key, text in keys.items():
            shown, start, _ = self.open.get(key, (text, t, t))
            self.open[key] = (max(shown, text, key=lambda x: x.count(" ")), start, t)

    def still(self, t: float) -> None:
        """No read at t: the picture did not change, so every open line is still seen."""
        self.open = {key: (text, start, t) for key, (text, start, _) in self.open.items()}

    def cues(self) -> list[Cue]:
        """All lines, the open ones closed, by start time."""
        for key in list(self.open):
            self._close(key)
        return sorted(self.closed, key=lambda cue: cue.start)

    def _close(self, key: str) -> None:
        text, start, last = self.open.pop(key)
        self.closed.append(Cue(start, min(last + self.step, max(self.duration, start)), text, OCR))


class ScreenScan:
    """One video's on-screen text: iterate to scan (each sample time is yielded), then take `cues()`."""

    def __init__(self, path: Path, reader: ScreenReader, settings: OcrSettings) -> None:
        self.path, self.reader, self.settings = path, reader, settings
        self.samples = 0
        self.reads = 0
        self._lines = _Lines(1.0 / settings.fps, 0.0)

    def __iter__(self) -> Iterator[float]:
        info = probe_video(self.path)
        self._lines.duration = info.duration
        size = ocr_size(info.width, info.height, self.settings.max_width)
        last: np.ndarray | None = None
        for t, image in iter_frames(self.path, self.settings.fps, size):
            thumb = thumbnail(image)
            self.samples += 1
            if last is None or difference(thumb, last) >= self.settings.trigger:
                last = thumb
                self.reads += 1
                found = self.reader.read(image)
                floor = self.settings.min_confidence
                self._lines.seen(t, [clean_text(text) for text, score in found if score >= floor])
            else:
                self._lines.still(t)
            yield t

    def cues(self) -> list[Cue]:
        """The lines read, as cues sorted by start time (call after iterating)."""
        return self._lines.cues()

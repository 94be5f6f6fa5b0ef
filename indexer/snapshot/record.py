"""A video as a snapshot stores it: what the writer takes and the reader gives back for carrying over."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from indexer.cues import Cue


@dataclass
class VideoRecord:
    """One encoded video as handed to the writer (vectors L2-normalised by the caller)."""

    video_id: str
    path: str
    duration: float
    content_hash: str
    metadata: dict[str, Any]
    clips: np.ndarray  # [C, D]
    segments: np.ndarray  # [S, D]
    segment_ranges: np.ndarray  # [S, 2] (start clip, end clip exclusive)
    video_vector: np.ndarray  # [D]
    lines: list[Cue] = field(default_factory=list)  # its streams' timed lines
    line_vectors: np.ndarray | None = None  # [len(lines), Dt] sentence vectors (None: not computed)

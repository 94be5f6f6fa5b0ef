"""The snapshot manifest (`manifest.json`) and the names of the files beside it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.snapshot.errors import SnapshotError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
META = "meta.sqlite"
CLIPS = "clips.f16"
SEGMENTS = "segments.f16"
SEGMENT_ROWS = "segments.i32"
VIDEOS = "videos.f16"
SEGMENT_INDEX = "segments.faiss"
VIDEO_INDEX = "videos.faiss"
LINE_VECTORS = "lines.f16"  # one sentence vector per row of the lines table, in its rowid order
LINE_INDEX = "lines.faiss"


@dataclass(frozen=True)
class ArraySpec:
    """A raw little-endian array file: dtype, shape and byte size."""

    dtype: str
    shape: tuple[int, ...]
    nbytes: int


@dataclass(frozen=True)
class IndexSpec:
    """A FAISS index file: the factory asked for, the one built, default search parameters, size."""

    requested: str
    factory: str
    search_params: str
    ntotal: int
    file: str
    tuning: dict[str, Any] | None = None  # how search_params were chosen (indexer.snapshot.tuning), if tuned


@dataclass(frozen=True)
class Counts:
    videos: int
    clips: int
    segments: int


@dataclass(frozen=True)
class Manifest:
    version: str
    model_hash: str
    dim: int
    clip_seconds: float
    created_at: str
    counts: Counts
    segment_index: IndexSpec
    video_index: IndexSpec
    arrays: dict[str, ArraySpec]
    report: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    line_index: IndexSpec | None = None  # None: snapshots written before line vectors, or without lines

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format_version") != FORMAT_VERSION:
            raise SnapshotError(
                f"snapshot format version {data.get('format_version')!r} is not supported "
                f"(this code reads version {FORMAT_VERSION})"
            )
        return cls(
            version=data["version"],
            model_hash=data["model_hash"],
            dim=int(data["dim"]),
            clip_seconds=float(data["clip_seconds"]),
            created_at=data["created_at"],
            counts=Counts(**data["counts"]),
            segment_index=IndexSpec(**data["segment_index"]),
            video_index=IndexSpec(**data["video_index"]),
            arrays={
                name: ArraySpec(spec["dtype"], tuple(spec["shape"]), int(spec["nbytes"]))
                for name, spec in data["arrays"].items()
            },
            report=dict(data.get("report", {})),
            format_version=int(data["format_version"]),
            line_index=IndexSpec(**data["line_index"]) if data.get("line_index") else None,
        )

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise SnapshotError(f"{directory} is not a snapshot: {MANIFEST} is missing") from exc
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"cannot read {path}: {exc}") from exc
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise SnapshotError(f"{path} is malformed: {exc!r}") from exc

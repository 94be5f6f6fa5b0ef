"""Opening a published snapshot read-only and memory-mapped, and searching it."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from types import TracebackType

import faiss
import numpy as np

from indexer.cues import Cue
from indexer.snapshot import faiss_index, layout, meta, tuning
from indexer.snapshot.errors import (
    ModelMismatchError,
    SnapshotError,
    SnapshotNotFoundError,
    VideoNotFoundError,
)
from indexer.snapshot.lines import LineIndex
from indexer.snapshot.manifest import (
    CLIPS,
    LINE_VECTORS,
    MANIFEST,
    META,
    SEGMENT_ROWS,
    SEGMENTS,
    VIDEOS,
    IndexSpec,
    Manifest,
)
from indexer.snapshot.meta import VideoRow
from indexer.snapshot.record import VideoRecord


class _Searcher:
    """One FAISS index with its default search parameters; parameter changes and searches are serialised."""

    def __init__(self, index: faiss.Index, spec: IndexSpec, dim: int) -> None:
        self.index = index
        self.defaults = spec.search_params
        self.dim = dim
        self._lock = threading.Lock()
        self._applied: str | None = None

    def search(self, queries: np.ndarray, k: int, params: str | None) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise SnapshotError(f"queries have shape {queries.shape}, expected [B, {self.dim}]")
        if k < 1:
            raise SnapshotError(f"k must be at least 1, got {k}")
        wanted = ",".join(p for p in (self.defaults, params) if p)
        with self._lock:
            if wanted != self._applied:
                faiss_index.set_search_params(self.index, wanted)
                self._applied = wanted
            scores, labels = self.index.search(q, k)
        scores[labels < 0] = -np.inf
        return scores, labels


class Snapshot:
    """A published snapshot, opened read-only; vectors stay on disk (memory-mapped) until touched.

    Files stay open for the object's life: it keeps working after CURRENT moves or its directory is removed.
    """

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self._check_files()
        self._clips = self._array(CLIPS)
        self._segments = self._array(SEGMENTS)
        self._segment_rows = self._array(SEGMENT_ROWS)
        self._videos = self._array(VIDEOS)
        self._db = meta.open_read_only(path / META)
        self._db_lock = threading.Lock()
        self._has_lines = meta.has_lines(self._db)
        rows = self._db.execute(
            "SELECT video_id, clip_offset, n_clips, segment_offset, n_segments FROM videos ORDER BY idx"
        ).fetchall()
        self.video_ids: list[str] = [r[0] for r in rows]
        self._idx = {vid: i for i, vid in enumerate(self.video_ids)}
        spans = np.array([r[1:] for r in rows], dtype=np.int64).reshape(-1, 4)
        self._clip_spans, self._segment_spans = spans[:, :2], spans[:, 2:]
        dim = manifest.dim
        self._segment_search = _Searcher(
            faiss_index.load_index(path / manifest.segment_index.file), manifest.segment_index, dim
        )
        self._video_search = _Searcher(
            faiss_index.load_index(path / manifest.video_index.file), manifest.video_index, dim
        )
        with_lines = manifest.line_index is not None and self._has_lines
        self._line_vectors = self._array(LINE_VECTORS) if with_lines else None
        # Line retrieval (None: a snapshot written before line vectors, or one without lines).
        self.lines = (
            LineIndex(path, self._db, manifest.line_index, self._line_vectors)
            if manifest.line_index and self._line_vectors is not None
            else None
        )

    @property
    def version(self) -> str:
        return self.manifest.version

    def __len__(self) -> int:
        return len(self.video_ids)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._idx

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _check_files(self) -> None:
        for name, spec in self.manifest.arrays.items():
            try:
                size = (self.path / name).stat().st_size
            except OSError as exc:
                raise SnapshotError(f"snapshot {self.path} is incomplete: {name}: {exc.strerror}") from exc
            if size != spec.nbytes:
                raise SnapshotError(
                    f"snapshot {self.path} is damaged: {name} has {size} bytes, expected {spec.nbytes}"
                )

    def _array(self, name: str) -> np.ndarray:
        spec = self.manifest.arrays[name]
        if spec.nbytes == 0:
            return np.zeros(spec.shape, dtype=np.dtype(spec.dtype))
        return np.memmap(self.path / name, dtype=np.dtype(spec.dtype), mode="r", shape=spec.shape)

    def index_of(self, video_id: str) -> int:
        try:
            return self._idx[video_id]
        except KeyError:
            raise VideoNotFoundError(f"video {video_id!r} is not in snapshot {self.version}") from None

    def _query(self, where: str, args: tuple[object, ...]) -> list[VideoRow]:
        with self._db_lock:
            rows = self._db.execute(f"SELECT {meta.COLUMNS} FROM videos {where}", args).fetchall()
        return [VideoRow.from_sql(r) for r in rows]

    def videos(self, offset: int = 0, limit: int | None = None) -> list[VideoRow]:
        """Videos in index order, one page at a time."""
        return self._query("ORDER BY idx LIMIT ? OFFSET ?", (-1 if limit is None else limit, offset))

    def video(self, video_id: str) -> VideoRow:
        return self.video_at(self.index_of(video_id))

    def video_at(self, idx: int) -> VideoRow:
        rows = self._query("WHERE idx = ?", (int(idx),))
        if not rows:
            raise VideoNotFoundError(f"no video with index {idx} in snapshot {self.version}")
        return rows[0]

    def clip_vectors_at(self, idx: int) -> np.ndarray:
        """Clip vectors [C, D] float16 of the video with index `idx` (a view into the memory map)."""
        start, count = self._clip_spans[idx]
        return self._clips[start : start + count]

    def clip_vectors(self, video_id: str) -> np.ndarray:
        return self.clip_vectors_at(self.index_of(video_id))

    def lines_at(self, idx: int) -> list[Cue]:
        """The timed lines of every stream of the video with index `idx` ([] for snapshots without lines)."""
        return self._lines_at(idx)[1]

    def _lines_at(self, idx: int) -> tuple[list[int], list[Cue]]:
        if not self._has_lines:
            return [], []
        with self._db_lock:
            return meta.read_lines(self._db, idx)

    def line(self, line: int) -> tuple[int, Cue]:
        """The video idx and the line with line number `line` (a row of `lines`' indexes)."""
        with self._db_lock:
            return meta.read_line(self._db, line)

    def record(self, video_id: str) -> VideoRecord:
        """The stored form of a video, ready to be added to a new snapshot without re-encoding."""
        row = self.video(video_id)
        s_start, s_count = self._segment_spans[row.idx]
        numbers, lines = self._lines_at(row.idx)
        vectors = (
            None if self._line_vectors is None else self._line_vectors[np.asarray(numbers, dtype=np.int64)]
        )
        return VideoRecord(
            video_id=row.video_id,
            path=row.path,
            duration=row.duration,
            content_hash=row.content_hash,
            metadata=row.metadata,
            clips=self.clip_vectors_at(row.idx),
            segments=self._segments[s_start : s_start + s_count],
            segment_ranges=self._segment_rows[s_start : s_start + s_count, 1:],
            video_vector=self._videos[row.idx],
            lines=lines,
            line_vectors=vectors,
        )

    def search_segments(
        self, queries: np.ndarray, k: int, params: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k segments: scores [B, k] float32 and rows [B, k, 3] int32 = (video idx, start, end exclusive).

        Missing results (fewer than k segments) have score -inf and row -1.
        """
        scores, labels = self._segment_search.search(queries, k, params)
        if len(self._segment_rows) == 0:  # an empty snapshot (every video deleted): nothing to look up
            return scores, np.full((*labels.shape, 3), -1, dtype=np.int32)
        rows = np.asarray(self._segment_rows[np.maximum(labels, 0)], dtype=np.int32)
        rows[labels < 0] = -1
        return scores, rows

    def search_videos(
        self, queries: np.ndarray, k: int, params: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k videos by video vector: scores [B, k] float32, video idx [B, k] int64 (-1 when missing)."""
        return self._video_search.search(queries, k, params)

    def top_videos(
        self, queries: np.ndarray, k: int, segments_k: int | None = None, params: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1: top-k videos scored by their best segment among the top `segments_k` segments.

        Returns scores [B, k] float32 (-inf when missing) and video idx [B, k] int64 (-1 when missing).
        """
        fetch = (self.manifest.segment_index.tuning or {}).get("fetch", tuning.DEFAULT_FETCH)
        seg_scores, rows = self.search_segments(queries, segments_k or tuning.segments_for(k, fetch), params)
        return tuning.best_videos(seg_scores, rows[:, :, 0], k)


def resolve_dir(root_or_dir: str | os.PathLike[str]) -> Path:
    """The snapshot directory for a snapshot root (via CURRENT) or a snapshot directory itself."""
    path = Path(root_or_dir)
    if (path / MANIFEST).is_file():
        return path
    version = layout.read_current(path)
    if version is None:
        raise SnapshotNotFoundError(
            f"no published snapshot in {path} (no {layout.CURRENT} file and no {MANIFEST})"
        )
    return layout.snapshots_dir(path) / version


def open_snapshot(root_or_dir: str | os.PathLike[str], expected_model_hash: str | None = None) -> Snapshot:
    """Open the CURRENT snapshot of a root, or a snapshot directory, read-only and memory-mapped."""
    path = resolve_dir(root_or_dir)
    manifest = Manifest.load(path)
    if expected_model_hash is not None and manifest.model_hash != expected_model_hash:
        raise ModelMismatchError(str(path), expected_model_hash, manifest.model_hash)
    try:
        return Snapshot(path, manifest)
    except (OSError, sqlite3.Error) as exc:
        raise SnapshotError(f"cannot open snapshot {path}: {exc}") from exc

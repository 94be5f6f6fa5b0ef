"""Writing a snapshot: stream videos into a partial directory, build the indexes, publish atomically."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from indexer.snapshot import faiss_index, layout, lines, meta, tuning
from indexer.snapshot.errors import DuplicateVideoError, SnapshotError
from indexer.snapshot.manifest import (
    CLIPS,
    LINE_INDEX,
    LINE_VECTORS,
    MANIFEST,
    META,
    SEGMENT_INDEX,
    SEGMENT_ROWS,
    SEGMENTS,
    VIDEO_INDEX,
    VIDEOS,
    ArraySpec,
    Counts,
    IndexSpec,
    Manifest,
)
from indexer.snapshot.reader import Snapshot
from indexer.snapshot.record import VideoRecord
from models.files import fsync_path

_DTYPES = {CLIPS: np.float16, SEGMENTS: np.float16, SEGMENT_ROWS: np.int32, VIDEOS: np.float16}


@dataclass(frozen=True)
class SnapshotInfo:
    """A published snapshot: its version, directory and manifest."""

    version: str
    path: Path
    manifest: Manifest


def _validate(record: VideoRecord, dim: int) -> None:
    def fail(problem: str) -> SnapshotError:
        return SnapshotError(f"video {record.video_id!r}: {problem}")

    if not isinstance(record.video_id, str) or not record.video_id:
        raise fail("video_id must be a non-empty string")
    c, s = record.clips, record.segments
    if c.ndim != 2 or c.shape[1] != dim:
        raise fail(f"clips have shape {c.shape}, expected [C, {dim}]")
    if s.ndim != 2 or s.shape[1] != dim:
        raise fail(f"segments have shape {s.shape}, expected [S, {dim}]")
    if record.segment_ranges.shape != (s.shape[0], 2):
        raise fail(f"segment_ranges have shape {record.segment_ranges.shape}, expected [{s.shape[0]}, 2]")
    if record.video_vector.shape != (dim,):
        raise fail(f"video_vector has shape {record.video_vector.shape}, expected [{dim}]")
    ranges = record.segment_ranges
    if ranges.size and (
        ranges[:, 0].min() < 0 or (ranges[:, 1] <= ranges[:, 0]).any() or ranges.max() > len(c)
    ):
        raise fail(f"segment_ranges must satisfy 0 <= start < end <= {len(c)} clips")
    for name in ("clips", "segments", "video_vector"):
        if not np.isfinite(getattr(record, name)).all():
            raise fail(f"{name} contain NaN or infinite values")
    lv = record.line_vectors
    if lv is not None and (lv.ndim != 2 or len(lv) != len(record.lines) or not np.isfinite(lv).all()):
        raise fail(f"line_vectors have shape {lv.shape}, expected [{len(record.lines)}, Dt], finite")


class SnapshotWriter:
    """Builds one new snapshot under `root`; use as a context manager so a failure removes the partial one."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        model_hash: str,
        dim: int,
        clip_seconds: float,
        segment_factory: str = faiss_index.AUTO,
        video_factory: str = faiss_index.AUTO,
        auto_exact_max: int = faiss_index.AUTO_EXACT_MAX,
    ) -> None:
        self.root = layout.check_writable(root)
        self.model_hash = model_hash
        self.dim = dim
        self.clip_seconds = clip_seconds
        self.segment_factory = segment_factory
        self.video_factory = video_factory
        self.auto_exact_max = auto_exact_max
        self.partial = layout.tmp_dir(self.root) / f"{uuid.uuid4().hex}{layout.PARTIAL_SUFFIX}"
        self._ids: set[str] = set()
        self._counts = {CLIPS: 0, SEGMENTS: 0, VIDEOS: 0}
        self._files: dict[str, IO[bytes]] = {}
        self._db: sqlite3.Connection | None = None
        self._done = False
        self._lines = 0
        self._line_dim: int | None = None
        self._line_vectors_ok = True  # False once a video with lines comes without their vectors
        try:
            self.partial.mkdir()
            self._files = {
                name: open(self.partial / name, "wb")  # noqa: SIM115
                for name in (*_DTYPES, LINE_VECTORS)
            }
            self._db = meta.create(self.partial / META)
        except (OSError, sqlite3.Error) as exc:
            self.abort()
            raise SnapshotError(f"cannot start a snapshot in {self.partial}: {exc}") from exc

    @classmethod
    def like(cls, root: str | os.PathLike[str], snapshot: Snapshot) -> SnapshotWriter:
        """A writer with the model, dimensions and index choices of an existing snapshot."""
        m = snapshot.manifest
        return cls(
            root,
            m.model_hash,
            m.dim,
            m.clip_seconds,
            segment_factory=m.segment_index.requested,
            video_factory=m.video_index.requested,
        )

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._done:
            self.abort()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._ids

    def add_video(self, record: VideoRecord) -> None:
        """Append one video; its vectors go straight to disk (float16)."""
        if self._done:
            raise SnapshotError("this writer has already published or been aborted")
        _validate(record, self.dim)
        if record.video_id in self._ids:
            raise DuplicateVideoError(f"video id {record.video_id!r} was already added to this snapshot")
        idx = len(self._ids)
        n_clips, n_segments = len(record.clips), len(record.segments)
        rows = np.empty((n_segments, 3), dtype=np.int32)
        rows[:, 0] = idx
        rows[:, 1:] = record.segment_ranges
        row = meta.VideoRow(
            video_id=record.video_id,
            idx=idx,
            path=record.path,
            duration=float(record.duration),
            content_hash=record.content_hash,
            metadata=record.metadata,
            clip_offset=self._counts[CLIPS],
            n_clips=n_clips,
            clip_seconds=self.clip_seconds,
            segment_offset=self._counts[SEGMENTS],
            n_segments=n_segments,
        )
        try:
            assert self._db is not None
            meta.insert(self._db, row)
            meta.insert_lines(self._db, idx, record.lines)
            self._append(CLIPS, record.clips)
            self._append(SEGMENTS, record.segments)
            self._append(SEGMENT_ROWS, rows)
            self._append(VIDEOS, record.video_vector[None, :])
            self._append_line_vectors(record)
        except (OSError, sqlite3.Error) as exc:
            self.abort()
            raise SnapshotError(
                f"writing video {record.video_id!r} to {self.partial} failed: {_why(exc)}"
            ) from exc
        except (TypeError, ValueError) as exc:
            self.abort()
            raise SnapshotError(f"video {record.video_id!r} could not be stored: {exc}") from exc
        self._ids.add(record.video_id)
        self._lines += len(record.lines)
        self._counts[CLIPS] += n_clips
        self._counts[SEGMENTS] += n_segments
        self._counts[VIDEOS] += 1

    def carry(self, snapshot: Snapshot, video_ids: list[str] | None = None) -> int:
        """Copy videos (all when `video_ids` is None) from an open snapshot without re-encoding them."""
        m = snapshot.manifest
        if (m.model_hash, m.dim, m.clip_seconds) != (self.model_hash, self.dim, self.clip_seconds):
            raise SnapshotError(
                f"cannot carry videos from snapshot {m.version}: it has model hash {m.model_hash!r}, "
                f"dim {m.dim}, clip_seconds {m.clip_seconds}; this writer has {self.model_hash!r}, "
                f"{self.dim}, {self.clip_seconds}"
            )
        ids = snapshot.video_ids if video_ids is None else video_ids
        for video_id in ids:
            self.add_video(snapshot.record(video_id))
        return len(ids)

    def _append(self, name: str, array: np.ndarray) -> None:
        self._files[name].write(np.ascontiguousarray(array, dtype=_DTYPES[name]).tobytes())

    def _append_line_vectors(self, record: VideoRecord) -> None:
        """Line vectors go beside the lines table, float16; one video without them drops them all."""
        vectors = record.line_vectors
        if not record.lines or not self._line_vectors_ok:
            return
        if vectors is None or self._line_dim not in (None, vectors.shape[1]):
            self._line_vectors_ok = False
            return
        self._line_dim = vectors.shape[1]
        self._files[LINE_VECTORS].write(np.ascontiguousarray(vectors, dtype=np.float16).tobytes())

    def publish(self, report: dict[str, Any] | None = None) -> SnapshotInfo:
        """Finish the files, build the indexes, move the snapshot into place and make it CURRENT."""
        if self._done:
            raise SnapshotError("this writer has already published or been aborted")
        try:
            return self._publish(dict(report or {}))
        except (OSError, sqlite3.Error) as exc:
            self.abort()
            raise SnapshotError(f"publishing snapshot from {self.partial} failed: {_why(exc)}") from exc
        except BaseException:
            self.abort()
            raise

    def _publish(self, report: dict[str, Any]) -> SnapshotInfo:
        assert self._db is not None
        self._db.commit()
        with_lines = self._line_vectors_ok and self._line_dim is not None
        texts = lines.line_texts(self._db) if with_lines else []
        self._db.close()
        self._db = None
        for f in self._files.values():
            f.flush()
            os.fsync(f.fileno())
            f.close()
        arrays = self._array_specs()
        segment_index = self._build(SEGMENTS, SEGMENT_INDEX, self.segment_factory, arrays[SEGMENTS])
        video_index = self._build(VIDEOS, VIDEO_INDEX, self.video_factory, arrays[VIDEOS])
        line_index = self._build_lines(texts, arrays) if with_lines else None
        if line_index is None:
            (self.partial / LINE_VECTORS).unlink()
        for name in (META, SEGMENT_INDEX, VIDEO_INDEX, *([LINE_INDEX] if line_index else [])):
            fsync_path(self.partial / name)
        with layout.root_lock(self.root):
            version = layout.next_version(self.root)
            manifest = Manifest(
                version=version,
                model_hash=self.model_hash,
                dim=self.dim,
                clip_seconds=self.clip_seconds,
                created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                counts=Counts(
                    videos=self._counts[VIDEOS], clips=self._counts[CLIPS], segments=self._counts[SEGMENTS]
                ),
                segment_index=segment_index,
                video_index=video_index,
                arrays=arrays,
                report=report,
                line_index=line_index,
            )
            with open(self.partial / MANIFEST, "w") as out:
                out.write(manifest.to_json())
                out.flush()
                os.fsync(out.fileno())
            final = layout.publish_dir(self.root, self.partial, version)
            self._done = True
        return SnapshotInfo(version=version, path=final, manifest=manifest)

    def _array_specs(self) -> dict[str, ArraySpec]:
        rows = {CLIPS: self._counts[CLIPS], SEGMENTS: self._counts[SEGMENTS], VIDEOS: self._counts[VIDEOS]}
        rows[SEGMENT_ROWS] = self._counts[SEGMENTS]
        specs = {}
        for name, dtype in _DTYPES.items():
            width = 3 if name == SEGMENT_ROWS else self.dim
            nbytes = rows[name] * width * np.dtype(dtype).itemsize
            if (self.partial / name).stat().st_size != nbytes:
                raise SnapshotError(
                    f"{self.partial / name} has an unexpected size; the snapshot is incomplete"
                )
            specs[name] = ArraySpec(np.dtype(dtype).str, (rows[name], width), nbytes)
        return specs

    def _build_lines(self, texts: list[str], arrays: dict[str, ArraySpec]) -> IndexSpec:
        """The line vectors' array spec (into `arrays`), FAISS index (`auto`) and the BM25 index of texts."""
        assert self._line_dim is not None and len(texts) == self._lines
        nbytes = self._lines * self._line_dim * np.dtype(np.float16).itemsize
        if (self.partial / LINE_VECTORS).stat().st_size != nbytes:
            raise SnapshotError(
                f"{self.partial / LINE_VECTORS} has an unexpected size; the snapshot is incomplete"
            )
        spec = ArraySpec(np.dtype(np.float16).str, (self._lines, self._line_dim), nbytes)
        arrays[LINE_VECTORS] = spec
        for path in lines.build_bm25(texts, self.partial):
            fsync_path(path)
        return self._build(LINE_VECTORS, LINE_INDEX, faiss_index.AUTO, spec)

    def _build(self, source: str, target: str, requested: str, spec: ArraySpec) -> IndexSpec:
        n = spec.shape[0]
        factory, params = faiss_index.resolve_factory(requested, n, self.auto_exact_max)
        vectors = (
            np.memmap(self.partial / source, dtype=np.float16, mode="r", shape=spec.shape)
            if n
            else np.zeros((0, spec.shape[1]), dtype=np.float16)
        )
        index = faiss_index.build_index(vectors, factory)
        tuned = None
        if source == SEGMENTS and n:  # stage 1's index: its search parameters measured on its own vectors
            owners = np.memmap(self.partial / SEGMENT_ROWS, dtype=np.int32, mode="r", shape=(n, 3))[:, 0]
            tuned = tuning.tune(index, vectors, np.asarray(owners), self._counts[VIDEOS])
        del vectors
        faiss_index.save_index(index, self.partial / target)
        return IndexSpec(
            requested=requested,
            factory=factory,
            search_params=tuned.search_params if tuned else params,
            ntotal=n,
            file=target,
            tuning=tuned.to_dict() if tuned else None,
        )

    def abort(self) -> None:
        """Drop the partial snapshot (idempotent); CURRENT and published snapshots are untouched."""
        self._done = True
        for f in self._files.values():
            with contextlib.suppress(OSError):  # on a full disk close() fails to flush: the file goes anyway
                f.close()
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        shutil.rmtree(self.partial, ignore_errors=True)


def _why(exc: BaseException) -> str:
    """A short reason; a full disk reads the same whether the OS or SQLite ran into it."""
    if isinstance(exc, sqlite3.Error) and "disk is full" in str(exc):
        return "no space left on device"
    return layout.describe_os_error(exc) if isinstance(exc, OSError) else str(exc)

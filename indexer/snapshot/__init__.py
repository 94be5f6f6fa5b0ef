"""The versioned snapshot store: immutable snapshot directories under a root, a CURRENT pointer, FAISS search.

Layout: ROOT/CURRENT names the current version; ROOT/snapshots/<version>/ holds manifest.json, meta.sqlite,
clips.f16, segments.f16, segments.i32, videos.f16, segments.faiss and videos.faiss; ROOT/tmp/ holds
snapshots being written.
"""

from indexer.snapshot.errors import (
    DuplicateVideoError,
    ModelMismatchError,
    SnapshotError,
    SnapshotNotFoundError,
    VideoNotFoundError,
)
from indexer.snapshot.faiss_index import AUTO_EXACT_MAX, build_index, gpu_count, resolve_factory
from indexer.snapshot.layout import check_writable
from indexer.snapshot.manifest import ArraySpec, Counts, IndexSpec, Manifest
from indexer.snapshot.meta import VideoRow
from indexer.snapshot.reader import Snapshot, open_snapshot
from indexer.snapshot.record import VideoRecord
from indexer.snapshot.store import current_version, delete, gc, list_snapshots
from indexer.snapshot.writer import SnapshotInfo, SnapshotWriter

__all__ = [
    "AUTO_EXACT_MAX",
    "ArraySpec",
    "Counts",
    "DuplicateVideoError",
    "IndexSpec",
    "Manifest",
    "ModelMismatchError",
    "Snapshot",
    "SnapshotError",
    "SnapshotInfo",
    "SnapshotNotFoundError",
    "SnapshotWriter",
    "VideoNotFoundError",
    "VideoRecord",
    "VideoRow",
    "build_index",
    "check_writable",
    "current_version",
    "delete",
    "gc",
    "gpu_count",
    "list_snapshots",
    "open_snapshot",
    "resolve_factory",
]

"""Managing a snapshot root: listing, the CURRENT pointer, deleting videos, pruning old snapshots."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from indexer.snapshot import layout
from indexer.snapshot.errors import SnapshotError, VideoNotFoundError
from indexer.snapshot.manifest import Manifest
from indexer.snapshot.reader import open_snapshot
from indexer.snapshot.writer import SnapshotInfo, SnapshotWriter
from models.files import fsync_path


def current_version(root: str | os.PathLike[str]) -> str | None:
    return layout.read_current(Path(root))


def list_snapshots(root: str | os.PathLike[str]) -> list[SnapshotInfo]:
    """Published snapshots, oldest first (partial ones are never listed)."""
    base = layout.snapshots_dir(Path(root))
    return [SnapshotInfo(v, base / v, Manifest.load(base / v)) for v in layout.published_versions(Path(root))]


def delete(
    root: str | os.PathLike[str], video_ids: list[str], report: dict[str, object] | None = None
) -> SnapshotInfo:
    """Publish a snapshot equal to CURRENT without `video_ids` (no re-encoding)."""
    with open_snapshot(root) as current:
        missing = [v for v in video_ids if v not in current]
        if missing:
            raise VideoNotFoundError(
                f"videos not in snapshot {current.version}: {', '.join(map(repr, missing))}"
            )
        gone = set(video_ids)
        with SnapshotWriter.like(root, current) as writer:
            writer.carry(current, [v for v in current.video_ids if v not in gone])
            return writer.publish(
                {"deleted": sorted(gone), "from_version": current.version, **(report or {})}
            )


def _newest_mtime(path: Path) -> float:
    times = [path.stat().st_mtime]
    for child in path.iterdir():
        try:
            times.append(child.stat().st_mtime)
        except OSError:
            continue
    return max(times)


def gc(root: str | os.PathLike[str], keep: int = 2, stale_after_s: float = 3600.0) -> list[str]:
    """Remove old snapshots (never CURRENT, never the newest `keep`) and partial ones untouched for
    `stale_after_s` seconds; returns the removed directory names."""
    if keep < 1:
        raise SnapshotError(f"gc must keep at least one snapshot, got keep={keep}")
    path = Path(root)
    removed: list[str] = []
    with layout.root_lock(path):
        current = layout.read_current(path)
        versions = layout.published_versions(path)
        for version in versions[:-keep]:
            if version != current:
                shutil.rmtree(layout.snapshots_dir(path) / version)
                removed.append(version)
        tmp = layout.tmp_dir(path)
        now = time.time()
        for partial in sorted(tmp.glob(f"*{layout.PARTIAL_SUFFIX}")) if tmp.is_dir() else []:
            if now - _newest_mtime(partial) >= stale_after_s:
                shutil.rmtree(partial, ignore_errors=True)
                removed.append(partial.name)
    if removed:
        fsync_path(layout.snapshots_dir(path))
    return removed

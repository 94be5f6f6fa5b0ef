"""Paths, version names, publishing and locking helpers of a snapshot root."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

from indexer.snapshot.errors import SnapshotError
from models.files import atomic_write, fsync_path

CURRENT = "CURRENT"
SNAPSHOTS = "snapshots"
TMP = "tmp"
LOCK = ".lock"
PARTIAL_SUFFIX = ".partial"
VERSION_RE = re.compile(r"^v(\d{6,})-([0-9a-f]{8})$")


def snapshots_dir(root: Path) -> Path:
    return root / SNAPSHOTS


def tmp_dir(root: Path) -> Path:
    return root / TMP


def check_writable(root: str | os.PathLike[str]) -> Path:
    """Create the root layout and prove it writable (write, fsync, remove a probe); raise SnapshotError."""
    path = Path(root)
    probe = tmp_dir(path) / f"probe-{uuid.uuid4().hex[:8]}"
    try:
        snapshots_dir(path).mkdir(parents=True, exist_ok=True)
        tmp_dir(path).mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"ok")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        raise SnapshotError(f"snapshot root {path} is not writable: {exc.strerror or exc}") from exc
    return path


@contextlib.contextmanager
def root_lock(root: Path) -> Iterator[None]:
    """Exclusive advisory lock of a snapshot root (serialises version allocation and CURRENT moves)."""
    with open(root / LOCK, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def publish_dir(root: Path, partial: Path, version: str) -> Path:
    """Rename a finished, fsynced partial to `snapshots/<version>`, then move CURRENT (under root_lock)."""
    fsync_path(partial)
    final = snapshots_dir(root) / version
    os.rename(partial, final)
    fsync_path(final.parent)
    atomic_write(root / CURRENT, f"{version}\n".encode())
    return final


def version_seq(version: str) -> int | None:
    """The sequence number of a version name, None when the name is not a version."""
    match = VERSION_RE.match(version)
    return int(match.group(1)) if match else None


def published_versions(root: Path) -> list[str]:
    """Version names of the published snapshot directories, oldest first."""
    base = snapshots_dir(root)
    if not base.is_dir():
        return []
    names = [p.name for p in base.iterdir() if version_seq(p.name) is not None and p.is_dir()]
    return sorted(names, key=lambda name: (version_seq(name), name))


def next_version(root: Path) -> str:
    """A new version name, sorting after every published one; call under `root_lock`."""
    seqs = [version_seq(name) or 0 for name in published_versions(root)]
    return f"v{max(seqs, default=0) + 1:06d}-{uuid.uuid4().hex[:8]}"


def read_current(root: Path) -> str | None:
    """The version named by CURRENT, None when there is none yet."""
    try:
        text = (root / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SnapshotError(f"cannot read {root / CURRENT}: {exc.strerror or exc}") from exc
    if version_seq(text) is None:
        raise SnapshotError(f"{root / CURRENT} names {text!r}, which is not a snapshot version")
    return text


def describe_os_error(exc: OSError) -> str:
    """A short message for an OSError, saying plainly when the disk is full."""
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return exc.strerror or str(exc)

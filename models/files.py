"""Files written whole or not at all, and the hash of a file's bytes."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | Callable[[Path], object]) -> Path:
    """Replace `path` with `data`, or with the file `data(tmp)` writes at the path it is given, so a reader
    sees the old file or the whole new one: a unique `.<name>.<hex>.tmp` beside it, fsynced, renamed into
    place, the folder fsynced. The temporary file never outlives a failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if isinstance(data, bytes):
            with open(tmp, "wb") as handle:
                handle.write(data)
        else:
            data(tmp)
        fsync_path(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(path.parent)
    return path


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of the file's bytes, read in blocks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()

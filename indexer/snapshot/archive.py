"""Backups: a snapshot as a tar file with a checksum manifest; an import verifies every file, then publishes.

Archive layout: `kairos-backup.json` (format, version, each file's size and SHA-256), then `<version>/<file>`
for every file of the snapshot directory. Import extracts into `ROOT/tmp/`, checks each file against the
manifest, opens the result as a snapshot, and only then publishes it under its own version (atomically, as
the writer does); a version (or version number) the root already has is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import time
import uuid
from pathlib import Path
from typing import IO, Any

from indexer.snapshot import layout
from indexer.snapshot.errors import SnapshotError, SnapshotNotFoundError
from indexer.snapshot.manifest import Manifest
from indexer.snapshot.reader import open_snapshot
from indexer.snapshot.writer import SnapshotInfo
from models.files import atomic_write, file_sha256

BACKUP_MANIFEST = "kairos-backup.json"
BACKUP_FORMAT = 1
CHUNK = 1 << 20


def _copy_hashing(source: IO[bytes], target: IO[bytes]) -> tuple[int, str]:
    """Copy `source` to `target` to its end; its size and SHA-256."""
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        target.write(chunk)
    return size, digest.hexdigest()


def export_snapshot(root: str | os.PathLike[str], version: str, target: Path) -> Path:
    """Write snapshot `version` of `root` (`current`: the one CURRENT names) to the tar file `target`."""
    base = Path(root)
    if version == "current":
        version = layout.read_current(base) or "current"  # none published: reported just below
    directory = layout.snapshots_dir(base) / version
    if layout.version_seq(version) is None or not directory.is_dir():
        raise SnapshotNotFoundError(f"no snapshot {version!r} in {base}; see `kairos snapshots list`")
    Manifest.load(directory)  # a snapshot this code can read
    files = sorted(path for path in directory.iterdir() if path.is_file())

    def write(tmp: Path) -> None:
        listing: dict[str, Any] = {"format": BACKUP_FORMAT, "version": version, "files": {}}
        for path in files:
            listing["files"][path.name] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
        with tarfile.open(tmp, "w") as tar:
            data = json.dumps(listing, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(BACKUP_MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
            for path in files:
                tar.add(path, arcname=f"{version}/{path.name}", recursive=False)

    try:
        atomic_write(target, write)
    except OSError as exc:
        raise SnapshotError(f"cannot export {version} to {target}: {layout.describe_os_error(exc)}") from exc
    return target


def _listing(tar: tarfile.TarFile, archive: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """The version and the files (name → size, sha256) the archive's manifest promises."""
    try:
        member = tar.extractfile(BACKUP_MANIFEST)
    except KeyError:
        raise SnapshotError(f"{archive} is not a Kairos backup: it has no {BACKUP_MANIFEST}") from None
    try:
        data = json.loads(member.read() if member is not None else b"")
        version, files = str(data["version"]), dict(data["files"])
        checks = {name: {"size": int(v["size"]), "sha256": str(v["sha256"])} for name, v in files.items()}
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise SnapshotError(f"{archive}: {BACKUP_MANIFEST} is malformed: {exc!r}") from exc
    if data.get("format") != BACKUP_FORMAT or layout.version_seq(version) is None:
        raise SnapshotError(f"{archive}: unsupported backup format or version name {version!r}")
    if not checks or any(name != Path(name).name or name.startswith(".") for name in checks):
        raise SnapshotError(f"{archive}: {BACKUP_MANIFEST} lists no files or a file name with a folder")
    return version, checks


def _refuse_clash(root: Path, version: str) -> None:
    seq = layout.version_seq(version)
    for published in layout.published_versions(root):
        if published == version or layout.version_seq(published) == seq:
            raise SnapshotError(
                f"cannot import {version}: {root} already has snapshot {published} "
                f"(the same version{' number' if published != version else ''}); nothing was imported"
            )


def _extract(tar: tarfile.TarFile, archive: Path, version: str, checks: dict[str, Any], into: Path) -> None:
    """Extract and verify every file the manifest lists, and nothing else; errors name the file."""
    seen: set[str] = set()
    for member in tar.getmembers():
        if member.name == BACKUP_MANIFEST:
            continue
        folder, _, name = member.name.partition("/")
        if folder != version or name not in checks or name in seen or not member.isfile():
            raise SnapshotError(f"{archive}: unexpected entry {member.name!r} (not in {BACKUP_MANIFEST})")
        source = tar.extractfile(member)
        assert source is not None  # a regular file
        try:
            with open(into / name, "wb") as out:
                size, sha256 = _copy_hashing(source, out)
                out.flush()
                os.fsync(out.fileno())
        except (tarfile.TarError, EOFError) as exc:
            raise SnapshotError(f"{archive}: {name} is truncated or unreadable: {exc}") from exc
        if (size, sha256) != (checks[name]["size"], checks[name]["sha256"]):
            raise SnapshotError(
                f"{archive}: {name} is corrupted: its size or SHA-256 does not match {BACKUP_MANIFEST}"
            )
        seen.add(name)
    missing = sorted(set(checks) - seen)
    if missing:
        raise SnapshotError(f"{archive}: files listed in {BACKUP_MANIFEST} are missing: {', '.join(missing)}")


def import_snapshot(root: str | os.PathLike[str], archive: Path) -> SnapshotInfo:
    """Verify the backup `archive` file by file, then publish it in `root` under its version, as CURRENT."""
    base = layout.check_writable(root)
    partial = layout.tmp_dir(base) / f"{uuid.uuid4().hex}{layout.PARTIAL_SUFFIX}"
    try:
        with tarfile.open(archive, "r:*") as tar:
            version, checks = _listing(tar, archive)
            _refuse_clash(base, version)
            partial.mkdir()
            _extract(tar, archive, version, checks, partial)
        manifest = Manifest.load(partial)
        if manifest.version != version:
            raise SnapshotError(f"{archive}: the snapshot inside is {manifest.version}, not {version}")
        open_snapshot(partial).close()  # arrays, SQLite and both FAISS indexes open
        with layout.root_lock(base):
            _refuse_clash(base, version)
            final = layout.publish_dir(base, partial, version)
    except tarfile.TarError as exc:
        raise SnapshotError(f"{archive} is not a readable tar file: {exc}") from exc
    except OSError as exc:
        raise SnapshotError(f"cannot import {archive}: {layout.describe_os_error(exc)}") from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # gone already once published
    return SnapshotInfo(version=version, path=final, manifest=manifest)
